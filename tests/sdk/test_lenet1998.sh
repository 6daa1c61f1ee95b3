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
# shellcheck source=../sh_util.sh
source "$(dirname "$0")/../sh_util.sh"

tc_test_args train-images-idx3-ubyte "$@"
tc_need_tools cmake
tc_make_tmp lenet1998
model=$src/models/lenet5_1998.json

tc_install include/tinycnn/plugin.h bin/tinycnn bin/tinycnn-conformance

step "2. plugins/lenet1998 with CMake: find_package(tinycnn) from $prefix only"
cp -r "$src/plugins/lenet1998" "$tmp/lenet1998"
tc_cmake_project "$tmp/lenet1998" "$tmp/build" "the plugin"
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
# 400 steps of 32 images take LeNet-5 to about 90%; chance is 10%
tc_train_and_eval "$model" "$tmp/lenet.ckpt" 800

echo
echo "test_lenet1998.sh: all steps passed"
