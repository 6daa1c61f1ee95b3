# sh_util.sh - sourced by the shell tests that work on an install of the build
# tree (tests/sdk/test_sdk.sh, tests/sdk/test_lenet1998.sh,
# tests/install/test_install.sh): their common arguments, checks and steps.
# Each script sets `set -euo pipefail` itself before sourcing this file.
# shellcheck disable=SC2034 # the variables set here are the callers'

tc_script=$(basename "$0")

die() { echo "$tc_script: FAILED: $*" >&2; exit 1; }
step() { echo; echo "=== $*"; }

# tc_test_args MNIST_FILE BUILD_DIR SOURCE_DIR MNIST_DIR: sets build, src (both
# absolute) and data, which must hold MNIST_FILE (gzipped or not).
tc_test_args() {
  local need=$1
  shift
  [[ $# -eq 3 ]] || die "usage: $tc_script BUILD_DIR SOURCE_DIR MNIST_DIR"
  build=$(cd "$1" && pwd) || die "no build folder $1"
  src=$(cd "$2" && pwd) || die "no source folder $2"
  data=$3
  [[ -f $data/$need.gz || -f $data/$need ]] ||
    die "MNIST not found in '$data' (set TINYCNN_DATA and re-run cmake)"
}

# tc_need_tools TOOL...: dies naming the first one missing.
tc_need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh)"
  done
}

# tc_make_tmp NAME: a fresh temporary folder in tmp, removed on exit unless
# KEEP_TMP is set; prefix is the install folder inside it. The caller's
# environment must not point the tools at another install.
tc_make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/tinycnn-$1.XXXXXX")
  trap '[[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
  prefix=$tmp/prefix
  unset TINYCNN_PLUGIN_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH
}

# tc_install FILE...: step 1, the build tree installed to prefix, which must
# hold each FILE (relative to prefix).
tc_install() {
  local f
  step "1. cmake --install $build --prefix $prefix"
  cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; die "install"; }
  for f in "$@"; do
    [[ -e $prefix/$f ]] || die "the install lacks $f"
  done
}

# tc_cmake_project SOURCE BUILD WHAT: configures the CMake project SOURCE in
# BUILD against prefix only; sets found to the tinycnn_DIR used.
tc_cmake_project() {
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log" || { cat "$tmp/cmake.log"; die "configure $3"; }
  found=$(sed -n 's/^tinycnn_DIR:PATH=//p' "$2/CMakeCache.txt")
  [[ $found == "$prefix"/* ]] || die "find_package(tinycnn) used '$found', not the install in $prefix"
}

# tc_train_and_eval MODEL CKPT MIN_CORRECT: trains MODEL with the installed
# runner and the plugins in $tmp/plugins for 2 epochs x 200 steps into CKPT;
# the loss must be finite and go down from ln 10, the checkpoint must evaluate
# to what training reported, and more than MIN_CORRECT of 1000 test images
# must be right.
tc_train_and_eval() {
  local model=$1 ckpt=$2 min=$3 correct
  "$prefix/bin/tinycnn" train "$model" --plugin-dir "$tmp/plugins" \
    --data "$data" --epochs 2 --limit 6400 --test-limit 1000 --batch-size 32 --threads 2 \
    --json -o "$ckpt" >"$tmp/train.json" || { cat "$tmp/train.json"; die "training"; }
  # one "loss" and one "test_correct" per epoch record, in order
  mapfile -t losses < <(grep -o '"loss": *[-0-9.eE+]*' "$tmp/train.json" | sed 's/.*: *//')
  mapfile -t corrects < <(grep -o '"test_correct": *[0-9]*' "$tmp/train.json" | sed 's/.*: *//')
  [[ ${#losses[@]} -eq 2 && ${#corrects[@]} -eq 2 ]] ||
    { cat "$tmp/train.json"; die "expected 2 epoch records, got losses: ${losses[*]:-none}"; }
  echo "epoch losses: ${losses[0]} ${losses[1]} (a 10-class guess costs ln 10 = 2.3026)"
  awk -v a="${losses[0]}" -v b="${losses[1]}" 'BEGIN {
    ok = (a == a + 0) && (b == b + 0) && a > 0 && a < 2.302585 && b < a
    exit ok ? 0 : 1 }' || die "the loss did not go down from ln 10: ${losses[*]}"
  "$prefix/bin/tinycnn" eval "$ckpt" --plugin-dir "$tmp/plugins" --data "$data" \
    --limit 1000 --threads 2 --json >"$tmp/eval.json" || { cat "$tmp/eval.json"; die "eval of the checkpoint"; }
  correct=$(grep -o '"correct": *[0-9]*' "$tmp/eval.json" | sed 's/.*: *//')
  echo "test images right after epoch 2: ${corrects[1]}/1000 in training, $correct/1000 by eval of the checkpoint"
  [[ $correct == "${corrects[1]}" ]] || die "the checkpoint evaluates to $correct, training reported ${corrects[1]}"
  [[ $correct -gt $min ]] || die "only $correct/1000 test images right after 400 steps"
}
