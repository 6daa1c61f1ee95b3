#!/usr/bin/env bash
# compare.sh - tinycnn-bench against the same LeNet-5 in PyTorch, in one run.
#
#   bench/compare.sh [--build DIR] [--reps N] [--images N] [--threads "1 2"]
#                    [--data DIR] [--keep DIR]
#   bench/compare.sh --model FILE [--build DIR] [--reps N] [--threads "1 2"]
#                    [--images N] [--infer-images N] [--min-seconds S]
#                    [--warmup N] [--synthetic N] [--infer-batch N] [--keep DIR]
#
# With --model, the model file's net (e.g. models/vgg_cifar.json) against
# the same net built from the file by bench/pytorch_model.py, on random
# images of the model's input shape (--synthetic N of them, default 4096),
# with the model's optimiser and lr schedule: figures train32, train128,
# infer1, infer256 (--infer-batch); --images (default 768) images per
# training figure, inference for at least --infer-images (default 512)
# images and --min-seconds (default 1), --warmup (default 2) untimed steps.
# First both sides print their parameter counts and one forward on
# tinycnn's weights is compared (the run stops if they differ); the table
# adds peak RSS and tinycnn's planned buffer bytes of the train32 and
# infer256 processes.
#
# For each repetition and each thread count, every figure (train32, train128,
# infer1, infer1000) runs as its own process for tinycnn and for PyTorch, one
# right after the other (which one goes first alternates between
# repetitions), so a slow spell of the machine hits both. The table shows
# the median over the repetitions, and the ratio ours / PyTorch. The peak RSS
# row is that of the batch-32 training processes.
#
# Needs a Release build (default: build/, as `cmake -S . -B build` makes it)
# and /usr/bin/python3 with torch (Debian python3-torch). Without torch it
# says so, shows tinycnn's figures alone and exits 0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="$root/build"
reps=3
images=""
threads="1 2"
model=""
infer_images=512
min_seconds=1
warmup=2
synthetic=4096
infer_batch=256
data="${TINYCNN_DATA:-$root/data/mnist}"
keep=""
py="${PYTHON:-/usr/bin/python3}"
[[ -x $py ]] || py=python3

while [[ $# -gt 0 ]]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --images) images=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --infer-images) infer_images=$2; shift 2 ;;
        --min-seconds) min_seconds=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --synthetic) synthetic=$2; shift 2 ;;
        --infer-batch) infer_batch=$2; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

ours="$build/bin/tinycnn-bench"
if [[ ! -x $ours ]]; then
    echo "compare.sh: $ours not found: build first (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j)" >&2
    exit 1
fi
if ! "$py" -c 'import json, statistics' 2>/dev/null; then
    echo "compare.sh: $py cannot run; it is needed for the table" >&2
    exit 1
fi
have_torch=1
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    have_torch=0
    echo "compare.sh: note: '$py -c \"import torch, numpy\"' fails (install Debian's python3-torch):"
    echo "            no PyTorch comparison; tinycnn's figures alone follow."
fi

if [[ -n $keep ]]; then
    out=$keep
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

if [[ -n $model ]]; then
    if [[ ! -f $model ]]; then
        echo "compare.sh: --model $model: no such file" >&2
        exit 1
    fi
    images=${images:-768}
    figures="train32 train128 infer1 infer$infer_batch"
    margs=(--model "$model" --images "$images" --infer-images "$infer_images"
           --min-seconds "$min_seconds" --warmup "$warmup" --synthetic "$synthetic"
           --optimizer model)
    ours_cmd=("$ours" "${margs[@]}")
    torch_cmd=("$py" "$here/pytorch_model.py" "${margs[@]}")
    echo "compare.sh: $model, $reps repetition(s), threads: $threads, $images training images per"
    echo "            figure, $synthetic random images, the model's optimiser and lr schedule"
    # The same net on both sides, or the figures mean nothing: stop if not.
    "$ours" --model "$model" --synthetic 64 --threads 1 --optimizer model \
        --dump-check "$out/check.json"
    if [[ $have_torch == 1 ]] &&
        ! "$py" "$here/pytorch_model.py" --model "$model" --threads 1 --optimizer model \
            --check "$out/check.json"; then
        echo "compare.sh: FAILED: bench/pytorch_model.py does not build the net of $model" \
             "(see the check above); no figures taken" >&2
        exit 1
    fi
else
    images=${images:-60000}
    figures="train32 train128 infer1 infer1000"
    ours_cmd=("$ours" --images "$images" --data "$data")
    torch_cmd=("$py" "$here/pytorch_lenet5.py" --images "$images" --data "$data")
    echo "compare.sh: $reps repetition(s), threads: $threads, $images training images per figure, data: $data"
fi
# Other processes change the 2-thread figures most (bench/README.md): say so.
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo "compare.sh: load average at start: $load_start"
for ((r = 1; r <= reps; r++)); do
    for t in $threads; do
        for f in $figures; do
            run_ours() {
                "${ours_cmd[@]}" --only "$f" --threads "$t" --json > "$out/ours-$t-$f-$r.json"
            }
            run_torch() {
                "${torch_cmd[@]}" --only "$f" --threads "$t" --json > "$out/torch-$t-$f-$r.json"
            }
            printf '  rep %d, %d thread(s), %-9s ' "$r" "$t" "$f"
            if [[ $have_torch == 0 ]]; then
                run_ours
            elif ((r % 2)); then
                run_ours; run_torch
            else
                run_torch; run_ours
            fi
            echo "ok"
        done
    done
done

echo "compare.sh: load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
echo "  (above ~0.5 other processes were running: a region waits for a busy core, which"
echo "   hits 2-thread figures hardest; see bench/README.md)"

"$py" - "$out" "$reps" "$threads" "$have_torch" "$model" "$infer_batch" <<'EOF'
import glob, json, os, statistics, sys

out, reps, threads, have_torch = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4] == "1"
model, big = sys.argv[5], (f"infer{sys.argv[6]}" if sys.argv[5] else "infer1000")
figs = [("train32", "train, batch 32"), ("train128", "train, batch 128"),
        ("infer1", "infer, batch 1"), (big, f"infer, batch {big[5:]}")]
# The issues' targets, ours / PyTorch: (figure, threads or None for any) -> ratio
if model:
    targets = {("train32", "2"): 2.0, ("train128", "2"): 2.0, ("infer1", None): 5.0}
else:
    # the speed issue's: on 1 and 2 threads, AVX2-only and AVX-512 machines alike
    targets = {("train32", None): 6.0, ("infer1", None): 12.0, ("infer1000", None): 8.0}

# Every process reports its net's parameter count: the two nets must agree.
if model:
    counts = {}
    for p in glob.glob(os.path.join(out, "*-*-*-*.json")):
        if os.path.getsize(p):
            with open(p) as fh:
                d = json.load(fh)
            counts.setdefault(d["program"], set()).add(d["weights"])
    print(f"\n{model}: parameters: "
          + ", ".join(f"{k} {' '.join(map(str, sorted(v)))}" for k, v in sorted(counts.items())))
    if len(set().union(*counts.values())) != 1:
        print("compare.sh: FAILED: the two nets have different parameter counts", file=sys.stderr)
        sys.exit(1)

def load(prog, t, f, key):
    vals = []
    for r in range(1, reps + 1):
        p = os.path.join(out, f"{prog}-{t}-{f}-{r}.json")
        if os.path.exists(p) and os.path.getsize(p):
            with open(p) as fh:
                d = json.load(fh)
            v = d[f][key] if key == "images_per_s" else d.get(key)
            if v is not None:
                vals.append(v)
    return vals

def paired(t, f):
    """Median of the per-repetition ratios: each pair ran back to back."""
    rs = []
    for r in range(1, reps + 1):
        v = []
        for prog in ("ours", "torch"):
            p = os.path.join(out, f"{prog}-{t}-{f}-{r}.json")
            if not (os.path.exists(p) and os.path.getsize(p)):
                break
            with open(p) as fh:
                v.append(json.load(fh)[f]["images_per_s"])
        if len(v) == 2:
            rs.append(v[0] / v[1])
    return statistics.median(rs) if rs else None

def med(vals):
    return statistics.median(vals) if vals else None

def spread(vals):
    return f"{min(vals):.0f}-{max(vals):.0f}" if len(vals) > 1 else ""

info = None
for prog in ("ours", "torch"):
    p = os.path.join(out, f"{prog}-{threads[0]}-train32-1.json")
    if os.path.exists(p):
        with open(p) as fh:
            d = json.load(fh)
        if prog == "ours":
            info = d
        else:
            print(f"\nPyTorch {d['torch']}, data: {d['data']}")
if info:
    print(f"tinycnn data: {info['data']}; CPU: {info['cpu']}; median of {reps} run(s)\n")

hdr = (f"| {'figure (images/s)':<18} | thr | {'tinycnn':>9} | {'PyTorch':>9} | ours/PyTorch | paired "
       f"| {'target':<16} | {'tinycnn runs':>13} | {'PyTorch runs':>13} |")
print("(medians over the repetitions; 'paired': the median of the per-repetition ratios,\n"
      " each tinycnn run next to its PyTorch run; the last columns: slowest-fastest run)\n")
print(hdr)
print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
for f, label in figs:
    for t in threads:
        ov = load("ours", t, f, "images_per_s")
        pv = load("torch", t, f, "images_per_s") if have_torch else []
        o, p = med(ov), med(pv)
        ratio = o / p if o and p else None
        tgt = targets.get((f, t), targets.get((f, None)))
        tgt_s = ""
        if tgt and ratio:
            tgt_s = f"{'met' if ratio >= tgt else 'NOT met'} (>= {tgt:g}x)"
        elif tgt:
            tgt_s = f">= {tgt:g}x"
        fmt = lambda v: f"{v:9.0f}" if v else f"{'-':>9}"
        rs = f"{ratio:11.2f}x" if ratio else f"{'-':>12}"
        pr = paired(t, f) if have_torch else None
        ps = f"{pr:5.2f}x" if pr else f"{'-':>6}"
        print(f"| {label:<18} | {t:>3} | {fmt(o)} | {fmt(p)} | {rs} | {ps} | {tgt_s:<16} "
              f"| {spread(ov):>13} | {spread(pv):>13} |")
print()
mb = lambda v: f"{v / 1024:.1f} MB" if v else "-"
for t in threads if not model else []:
    o = med(load("ours", t, "train32", "peak_rss_kb"))
    p = med(load("torch", t, "train32", "peak_rss_kb")) if have_torch else None
    os_ = f"{o / 1024:.1f} MB" if o else "-"
    ps_ = f"{p / 1024:.1f} MB" if p else "-"
    verdict = ""
    if o:
        verdict = f"  (target < 120 MB: {'met' if o / 1024 < 120 else 'NOT met'})"
    print(f"peak RSS of a batch-32 training process, {t} thread(s): tinycnn {os_}, PyTorch {ps_}{verdict}")
if model:
    # each figure ran as its own process: its peak is that figure's alone
    print(f"| {'process (medians)':<20} | thr | tinycnn peak RSS | tinycnn planned | "
          f"PyTorch peak RSS | tinycnn/PyTorch |")
    print("|----------------------|-----|------------------|-----------------|"
          "------------------|-----------------|")
    for f, label in ((figs[0][0], "train, batch 32"), (big, f"infer, batch {big[5:]}")):
        for t in threads:
            o = med(load("ours", t, f, "peak_rss_kb"))
            pl = med(load("ours", t, f, "planned_bytes"))
            p = med(load("torch", t, f, "peak_rss_kb")) if have_torch else None
            r = f"{o / p:.2f}x" if o and p else "-"
            print(f"| {label:<20} | {t:>3} | {mb(o):>16} | {mb(pl / 1024 if pl else None):>15} "
                  f"| {mb(p):>16} | {r:>15} |")
    print("(planned: the bytes of the graph's planned buffers (activations, gradients,\n"
          " workspace) as tinycnn-bench reports them; weights, optimiser state and the\n"
          " random images are outside it, inside the peak RSS)")
EOF
