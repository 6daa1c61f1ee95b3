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
source scripts/find-data.sh
tinycnn_find_mnist
echo "quickstart: MNIST from $TINYCNN_DATA"

build/bin/tinycnn train models/lenet5.json -o lenet5.ckpt "$@"
build/bin/tinycnn eval lenet5.ckpt
