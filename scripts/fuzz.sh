#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# bounded time from the seed corpus in tests/fuzz/corpus/<target>/ plus the
# past findings in tests/fuzz/regressions/<target>/. Any crash, leak,
# timeout, out-of-memory or sanitizer report fails the run; the reproducer
# is kept in build-fuzz/findings/ and its path printed. To keep a finding as
# a regression test, copy it into tests/fuzz/regressions/<target>/ (the
# test_fuzz_replay ctest replays that folder in every build).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTINYCNN_FUZZ=ON -DTINYCNN_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_model fuzz_checkpoint fuzz_idx fuzz_png fuzz_jpeg \
      fuzz_cifar fuzz_onnx fuzz_cli
mkdir -p build-fuzz/findings
status=0
for t in model checkpoint idx png jpeg cifar onnx cli; do
  work=$(mktemp -d)             # new inputs found this run; the committed seeds stay as they are
  cp tests/fuzz/corpus/$t/* "$work"/
  extra=()
  if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
    extra=(tests/fuzz/regressions/$t)
  fi
  echo "fuzz: $t for ${secs}s"
  if ! build-fuzz/bin/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix=build-fuzz/findings/$t- \
       "$work" "${extra[@]}" 2>build-fuzz/fuzz_$t.log; then
    echo "fuzz: $t FAILED; see build-fuzz/fuzz_$t.log and build-fuzz/findings/"
    tail -40 build-fuzz/fuzz_$t.log
    status=1
  fi
  # a target that died before printing its stats must not stop the others
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/fuzz_$t.log |
    sed "s/^/fuzz: $t /" || true
  rm -rf "$work"
done
if ((status == 0)); then
  echo "fuzz: every target ran ${secs}s without a finding"
fi
exit $status
