#!/usr/bin/env bash
# The 1998 LeNet-5 with its C3 layer as an out-of-tree plugin, from an install:
#   1. install the build tree to a fresh temporary prefix;
#   2. build plugins/lenet1998, copied out of the source tree, with CMake against
#      that prefix only (find_package(tinycnn));
#   3. run that project's tests: the installed conformance suite on the plugin and
#      the check of C3's connections against Table I of the paper (both must pass);
#   4. without the plugin, models/lenet5_1998.json must be refused, naming LeNetC3;
#   5. with it (--plugin-dir), train the model with the installed runner for 400
#      steps: the loss must be finite and go down from ln 10, the test accuracy must
#      be well above chance, and the checkpoint must evaluate to the same result.
# usage: test_lenet1998.sh BUILD_DIR SOURCE_DIR MNIST_DIR
set -euo pipefail

die() { echo "test_lenet1998.sh: FAILED: $*" >&2; exit 1; }
step() { echo; echo "=== $*"; }

[[ $# -eq 3 ]] || die "usage: test_lenet1998.sh BUILD_DIR SOURCE_DIR MNIST_DIR"
build=$(cd "$1" && pwd) || die "no build folder $1"
src=$(cd "$2" && pwd) || die "no source folder $2"
data=$3
[[ -f $data/train-images-idx3-ubyte.gz || -f $data/train-images-idx3-ubyte ]] ||
  die "MNIST not found in '$data' (set TINYCNN_DATA and re-run cmake)"
command -v cmake >/dev/null || die "cmake is not installed (scripts/install-deps.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tinycnn-lenet1998.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
unset TINYCNN_PLUGIN_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH
model=$src/models/lenet5_1998.json

step "1. cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; die "install"; }
for f in include/tinycnn/plugin.h bin/tinycnn bin/tinycnn-conformance; do
  [[ -e $prefix/$f ]] || die "the install lacks $f"
done

step "2. plugins/lenet1998 with CMake: find_package(tinycnn) from $prefix only"
cp -r "$src/plugins/lenet1998" "$tmp/lenet1998"
cmake -S "$tmp/lenet1998" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log" || { cat "$tmp/cmake.log"; die "configure the plugin"; }
found=$(sed -n 's/^tinycnn_DIR:PATH=//p' "$tmp/build/CMakeCache.txt")
[[ $found == "$prefix"/* ]] || die "find_package(tinycnn) used '$found', not the install in $prefix"
cmake --build "$tmp/build" || die "build the plugin"
so=$tmp/build/lenet1998.so
[[ -f $so ]] || die "CMake did not produce lenet1998.so"
mkdir -p "$tmp/plugins"
cp "$so" "$tmp/plugins/"

step "3. the plugin project's tests: conformance suite and Table I"
"$prefix/bin/tinycnn-conformance" "$so" >"$tmp/conf.log" 2>&1 || { cat "$tmp/conf.log"; die "conformance of lenet1998.so"; }
grep -Eq "PASS: [0-9]+ checks of 1 layer type" "$tmp/conf.log" || { cat "$tmp/conf.log"; die "no PASS summary for 1 layer type"; }
tail -n 8 "$tmp/conf.log"
(cd "$tmp/build" && ctest --output-on-failure) || die "ctest of the plugin project"

step "4. the model without the plugin is refused"
if "$prefix/bin/tinycnn" train "$model" --data "$data" --epochs 1 --limit 64 \
    -o "$tmp/none.ckpt" >"$tmp/none.log" 2>&1; then
  die "lenet5_1998.json trained without the LeNetC3 plugin"
fi
grep -q "LeNetC3" "$tmp/none.log" || { cat "$tmp/none.log"; die "the refusal does not name LeNetC3"; }
head -n 2 "$tmp/none.log"

step "5. train models/lenet5_1998.json with the installed runner: 2 epochs x 200 steps"
"$prefix/bin/tinycnn" plugins --plugin-dir "$tmp/plugins" | grep -q '^LeNetC3' || die "the runner does not list LeNetC3"
"$prefix/bin/tinycnn" train "$model" --plugin-dir "$tmp/plugins" \
  --data "$data" --epochs 2 --limit 6400 --test-limit 1000 --batch-size 32 --threads 2 \
  --json -o "$tmp/lenet.ckpt" >"$tmp/train.json" || { cat "$tmp/train.json"; die "training"; }
mapfile -t losses < <(grep -o '"loss": *[-0-9.eE+]*' "$tmp/train.json" | sed 's/.*: *//')
mapfile -t corrects < <(grep -o '"test_correct": *[0-9]*' "$tmp/train.json" | sed 's/.*: *//')
[[ ${#losses[@]} -eq 2 && ${#corrects[@]} -eq 2 ]] ||
  { cat "$tmp/train.json"; die "expected 2 epoch records, got losses: ${losses[*]:-none}"; }
echo "epoch losses: ${losses[0]} ${losses[1]} (a 10-class guess costs ln 10 = 2.3026)"
awk -v a="${losses[0]}" -v b="${losses[1]}" 'BEGIN {
  ok = (a == a + 0) && (b == b + 0) && a > 0 && a < 2.302585 && b < a
  exit ok ? 0 : 1 }' || die "the loss did not go down from ln 10: ${losses[*]}"
"$prefix/bin/tinycnn" eval "$tmp/lenet.ckpt" --plugin-dir "$tmp/plugins" --data "$data" \
  --limit 1000 --threads 2 --json >"$tmp/eval.json" || { cat "$tmp/eval.json"; die "eval of the checkpoint"; }
correct=$(grep -o '"correct": *[0-9]*' "$tmp/eval.json" | sed 's/.*: *//')
echo "test images right after epoch 2: ${corrects[1]}/1000 in training, $correct/1000 by eval of the checkpoint"
[[ $correct == "${corrects[1]}" ]] || die "the checkpoint evaluates to $correct, training reported ${corrects[1]}"
# 400 steps of 32 images take LeNet-5 to about 90%; chance is 10%
[[ $correct -gt 800 ]] || die "only $correct/1000 test images right after 400 steps"

echo
echo "test_lenet1998.sh: all steps passed"
