#!/usr/bin/env bash
# Installs what tiny-cnn needs from Debian's packages, skipping what is there.
#   scripts/install-deps.sh          build and run (compiler, CMake, jansson, libpng, libjpeg,
#                                    zlib, CUnit, protobuf-c and ONNX's onnx.proto)
#   scripts/install-deps.sh --test   also what the test suite uses (valgrind, clang + sanitizer
#                                    runtimes, PyTorch and NumPy for the layer comparison,
#                                    Chromium to render the training report headless,
#                                    python3-onnx, node and ONNX Runtime for the ONNX tests,
#                                    Open MPI for data-parallel training, docs/distributed.md)
#   scripts/install-deps.sh --bench  also PyTorch, for the side-by-side benchmark
set -euo pipefail

pkgs=(build-essential cmake pkg-config libjansson-dev libpng-dev libjpeg-dev zlib1g-dev libcunit1-dev
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev)
ort=0
for arg in "$@"; do
  case "$arg" in
    --test) pkgs+=(valgrind clang libclang-rt-dev python3 python3-numpy python3-torch
            chromium python3-onnx nodejs libopenmpi-dev openmpi-bin)
            ort=1 ;;
    --bench) pkgs+=(python3 python3-torch) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
# npm comes with some node builds (NodeSource's); Debian packages it apart
if ((ort)) && ! command -v npm >/dev/null; then pkgs+=(npm); fi

# ONNX Runtime's CPU build from the npm registry, into .cache/node (where the
# tests look, TINYCNN_ORT_NODE_MODULES). --ignore-scripts: its install script
# only fetches GPU extras, and fails offline; the CPU binary is in the package.
ort_node() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/node"
  ((ort)) || return 0
  [[ -e "$dir/node_modules/onnxruntime-node/package.json" ]] && return 0
  echo "install-deps: npm install onnxruntime-node into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0
}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present (${pkgs[*]})"
  ort_node
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
ort_node
