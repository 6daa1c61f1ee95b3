#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds with warnings
# as errors, runs every CUnit program through ctest (each prints its CUnit
# summary).  MNIST is read from $TINYCNN_DATA, else ../shared/data/mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install-deps.sh --test
export TINYCNN_DATA="${TINYCNN_DATA:-$(cd .. && pwd)/shared/data/mnist}"
echo "test: MNIST from $TINYCNN_DATA"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTINYCNN_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest -V -j"$jobs" --timeout 600)
