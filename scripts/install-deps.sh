#!/usr/bin/env bash
# Installs what tiny-cnn needs from Debian's packages, skipping what is there.
#   scripts/install-deps.sh          build and run (compiler, CMake, jansson, libpng, libjpeg,
#                                    zlib, CUnit)
#   scripts/install-deps.sh --test   also what the test suite uses (valgrind, clang + sanitizer
#                                    runtimes, PyTorch and NumPy for the layer comparison)
#   scripts/install-deps.sh --bench  also PyTorch, for the side-by-side benchmark
set -euo pipefail

pkgs=(build-essential cmake pkg-config libjansson-dev libpng-dev libjpeg-dev zlib1g-dev libcunit1-dev)
for arg in "$@"; do
  case "$arg" in
    --test) pkgs+=(valgrind clang libclang-rt-dev python3 python3-numpy python3-torch) ;;
    --bench) pkgs+=(python3 python3-torch) ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present (${pkgs[*]})"
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
