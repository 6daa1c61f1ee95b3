#!/usr/bin/env bash
# Runs the whole test suite, in five sections:
#   1. Release build with warnings as errors, every CUnit program through ctest;
#   2. the layer and kernel tests built with the portable code paths only
#      (-DTC_NO_CLONES), which AVX2 machines would otherwise never run;
#   3. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan), leaks included;
#   4. valgrind memcheck of a short train, eval and predict (zero errors, zero
#      definite or indirect leaks);
#   5. every libFuzzer target for TINYCNN_FUZZ_SECONDS (default 60) seconds
#      (scripts/fuzz.sh): any crash, leak, timeout or sanitizer report fails.
# Every section runs even if an earlier one failed; the exit status is 0
# only if all passed. Installs what is missing first. MNIST is found as the
# quickstart finds it (scripts/find-data.sh): $TINYCNN_DATA, else data/mnist,
# else ../shared/data/mnist, else downloaded into data/mnist.
#   TINYCNN_FUZZ_SECONDS=5 scripts/test.sh    a quicker local run
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_secs=${TINYCNN_FUZZ_SECONDS:-60}
start=$SECONDS
failed=()

section() {
    printf '\n==================== %s ====================\n' "$*"
}
# Runs a section's commands (a function), timing it and noting a failure.
run_section() {
    local name=$1
    shift
    local t0=$SECONDS
    section "$name"
    if "$@"; then
        printf -- '---- %s: passed in %ds\n' "$name" $((SECONDS - t0))
    else
        printf -- '---- %s: FAILED after %ds\n' "$name" $((SECONDS - t0))
        failed+=("$name")
    fi
}

scripts/install-deps.sh --test || exit 1
source scripts/find-data.sh
tinycnn_find_mnist || exit 1
echo "test: MNIST from $TINYCNN_DATA"

release() {
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTINYCNN_WERROR=ON &&
        cmake --build build -j"$jobs" &&
        (cd build && ctest -V -j"$jobs" --timeout 600)
}

# The portable build: the same sources without the AVX2 clones of the layer
# kernels. Only the programs that exercise layers and kernels run here.
portable() {
    cmake -S . -B build-portable -DCMAKE_BUILD_TYPE=Release -DTINYCNN_WERROR=ON \
        -DCMAKE_C_FLAGS=-DTC_NO_CLONES &&
        cmake --build build-portable -j"$jobs" &&
        (cd build-portable &&
            ctest -V -j"$jobs" --timeout 600 -R 'test_(fastpaths|layers|layers_abi2|conv2d_ext|gradcheck|train|graph|state)$|conformance|torch_layers')
}

# -O1 keeps the sanitizer build fast enough to run the whole suite.
# Sanitizer options:
#   detect_leaks=1             every program (and every runner the tests start)
#                              exits non-zero on a leak;
#   allocator_may_return_null  a hostile size makes malloc return NULL (which
#                              the code handles) instead of aborting;
#   halt_on_error              the first report fails the test;
#   exitcode=86                a sanitizer's death is told apart from the
#                              runner's own exit status 1 (tests expect 1
#                              for refused input).
# No suppressions are needed: libgomp's thread pool lives until exit but is
# still reachable, and LeakSanitizer reports only unreachable blocks.
sanitizers() {
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" \
        -DTINYCNN_SANITIZE=ON -DTINYCNN_WERROR=ON &&
        cmake --build build-asan -j"$jobs" &&
        (cd build-asan &&
            ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:halt_on_error=1:detect_stack_use_after_return=1:exitcode=86 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86 \
            ctest -V -j"$jobs" --timeout 1200)
}

# valgrind on the Release runner. Errors and definite/indirect leaks fail.
# "Possibly lost" and "still reachable" blocks are not errors: they are
# libgomp's worker threads (their stacks and thread-local storage), which
# OpenMP keeps alive until the process exits, and the dynamic loader's own
# records. OMP_WAIT_POLICY=passive stops idle workers from spinning, which
# under valgrind's serialised threads would only burn time.
memcheck() {
    local tmp rc=0
    tmp=$(mktemp -d)
    # valgrind's own failure status is 99, apart from the runner's 1 and 2
    local vg=(valgrind -q --error-exitcode=99 --leak-check=full
              --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
    export OMP_WAIT_POLICY=passive
    echo "memcheck: train"
    "${vg[@]}" build/bin/tinycnn train models/lenet5.json --data "$TINYCNN_DATA" --limit 512 \
        --test-limit 256 --epochs 1 --threads 2 --quiet -o "$tmp/vg.ckpt" || rc=1
    echo "memcheck: eval"
    "${vg[@]}" build/bin/tinycnn eval "$tmp/vg.ckpt" --data "$TINYCNN_DATA" --limit 256 \
        --threads 2 --json >"$tmp/eval.json" || rc=1
    grep -E '"(correct|total)"' "$tmp/eval.json" || rc=1
    echo "memcheck: predict"
    "${vg[@]}" build/bin/tinycnn predict "$tmp/vg.ckpt" tests/data/*.png --threads 2 || rc=1
    echo "memcheck: a refused checkpoint (an error path)"
    head -c 1000 "$tmp/vg.ckpt" >"$tmp/cut.ckpt"
    "${vg[@]}" build/bin/tinycnn eval "$tmp/cut.ckpt" --data "$TINYCNN_DATA"
    [[ $? -eq 1 ]] || rc=1 # the runner's error status; 99 would be valgrind's
    unset OMP_WAIT_POLICY
    rm -rf "$tmp"
    return $rc
}

fuzzing() {
    scripts/fuzz.sh "$fuzz_secs"
}

run_section "1/5 Release build and tests" release
run_section "2/5 portable kernels build and tests" portable
run_section "3/5 ASan+UBSan build and tests" sanitizers
if [[ -x build/bin/tinycnn ]]; then
    run_section "4/5 valgrind memcheck" memcheck
else
    failed+=("4/5 valgrind memcheck (no Release build)")
fi
run_section "5/5 fuzzing, ${fuzz_secs} s per target" fuzzing

section "summary"
echo "test: total $((SECONDS - start)) s"
if ((${#failed[@]})); then
    printf 'test: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "test: all sections passed"
