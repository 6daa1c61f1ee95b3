#!/usr/bin/env bash
# One command from a fresh Debian machine to a trained and evaluated LeNet-5:
# installs what is missing, builds, finds or downloads MNIST, trains, evaluates.
# Extra arguments go to `tinycnn train` (e.g. --epochs 2).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

# Data: $TINYCNN_DATA, else data/mnist, else a copy beside the project, else download.
if [[ -z "${TINYCNN_DATA:-}" ]]; then
  if ls data/mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
    export TINYCNN_DATA=data/mnist
  elif ls ../shared/data/mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
    export TINYCNN_DATA=../shared/data/mnist
  else
    scripts/download-mnist.sh data/mnist
    export TINYCNN_DATA=data/mnist
  fi
fi
echo "quickstart: MNIST from $TINYCNN_DATA"

build/bin/tinycnn train models/lenet5.json -o lenet5.ckpt "$@"
build/bin/tinycnn eval lenet5.ckpt
