#!/bin/sh
# Data-parallel scaling on this machine (docs/distributed.md): training
# images/s of LeNet-5 (MNIST) and the CIFAR VGG and ResNet-8 for
# 1 rank x 2 threads, 1 rank x 1 thread and 2 ranks x 1 thread, with the
# allreduce time per step and its share of the training time that rank 0
# reports (time in the gradient sums, waiting for the other rank
# included). The 2-rank runs of each model are also made with one call
# forced (TINYCNN_DIST_BUCKET_BYTES=0) to compare with the bucketed path
# where the model is large enough for buckets (VGG, at the default 1 MiB).
#
# No CIFAR-10 download: a data set in CIFAR-10's binary format, random
# pixels and labels, is made in a temporary folder (the speed does not
# depend on the pixels).
#
# usage: bench/mpi_scale.sh [BUILD_DIR]    (default: build)
#   MNIST=DIR (default $TINYCNN_DATA, else ../shared/data/mnist beside the project)
#   CIFAR_IMAGES=N (default 2000), MNIST_IMAGES=N (default 6000), EPOCHS=N (default 2)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
tinycnn=$build/bin/tinycnn
mnist=${MNIST:-${TINYCNN_DATA:-$here/../shared/data/mnist}}
cifar_n=${CIFAR_IMAGES:-2000}
mnist_n=${MNIST_IMAGES:-6000}
epochs=${EPOCHS:-2}
mpirun=${MPIRUN:-mpirun}
[ -x "$tinycnn" ] || { echo "no $tinycnn (build first)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# CIFAR-10 binary: five data_batch_N.bin and test_batch.bin of 3073-byte
# records (label, then 32x32 red, green, blue planes), batches.meta.txt.
python3 - "$tmp/cifar" "$cifar_n" <<'EOF'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
rng = random.Random(1)
def batch(path, count):
    with open(path, "wb") as f:
        for _ in range(count):
            f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
per = (n + 4) // 5
for b in range(5):
    batch(f"{d}/data_batch_{b + 1}.bin", min(per, max(0, n - b * per)))
batch(f"{d}/test_batch.bin", 200)
with open(f"{d}/batches.meta.txt", "w") as f:
    f.write("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n")
EOF

# run RANKS THREADS MODEL DATA LIMIT [ENV=VALUE]: prints the last epoch's
# img/s and the allreduce ms per step and share (- for one rank).
run() {
    ranks=$1 threads=$2 model=$3 data=$4 limit=$5
    set -- env ${6:-TINYCNN_BENCH=1} "$tinycnn" train "$here/models/$model" --data "$data" \
        --threads "$threads" --limit "$limit" --test-limit 100 --epochs "$epochs" \
        --batch-size 64 -o "$tmp/run.ckpt"
    if [ "$ranks" -gt 1 ]; then
        set -- "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$ranks" "$@"
    fi
    nice "$@" > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; return 1; }
    ips=$(grep '^epoch ' "$tmp/log" | tail -1 | sed 's/.* \([0-9,.]*\) img\/s.*/\1/' | tr -d ,)
    comm=$(sed -n 's/^allreduce over [0-9]* ranks: \([0-9.]*\) ms per step.*, \([0-9.]*\)% of.*/\1 \2%/p' \
        "$tmp/log")
    echo "$ips ${comm:-- -}"
}

printf '%-14s %-22s %10s %14s %8s\n' model "ranks x threads" "img/s" "allreduce ms" share
for m in "lenet5.json $mnist $mnist_n" "vgg_cifar.json $tmp/cifar $cifar_n" \
         "resnet8_cifar.json $tmp/cifar $cifar_n"; do
    set -- $m
    model=$1 data=$2 limit=$3
    for cfg in "1 2" "1 1" "2 1" "2 1 TINYCNN_DIST_BUCKET_BYTES=0"; do
        set -- $cfg
        label="$1 x $2${3:+ (one call)}"
        set -- $(run "$1" "$2" "$model" "$data" "$limit" "${3:-}")
        printf '%-14s %-22s %10s %14s %8s\n' "${model%.json}" "$label" "$1" "$2" "$3"
    done
done
