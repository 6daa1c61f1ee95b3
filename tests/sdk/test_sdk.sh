#!/usr/bin/env bash
# The plugin SDK as an outside author meets it, from scratch:
#   1. install the build tree to a fresh temporary prefix and check the SDK files;
#   2. build plugins/example, copied out of the source tree, with CMake against
#      that prefix only (find_package(tinycnn)), and 3. again with one cc command
#      using pkg-config, and 3b. link it into a program that registers it with
#      tc_registry_add_static (no dlopen);
#   4. run the installed conformance suite on it (must pass), and on the installed
#      standard layers;
#   5. train models/lenet5_elu.json (which uses the example's layers) with the
#      installed runner for 400 steps: the loss must be finite and go down, and
#      the checkpoint must evaluate to the same result.
# usage: test_sdk.sh BUILD_DIR SOURCE_DIR MNIST_DIR
set -euo pipefail
# shellcheck source=../sh_util.sh
source "$(dirname "$0")/../sh_util.sh"

tc_test_args train-images-idx3-ubyte "$@"
tc_need_tools cmake cc pkg-config
tc_make_tmp sdk

tc_install include/tinycnn/plugin.h bin/tinycnn bin/tinycnn-conformance
pc=$(find "$prefix" -name tinycnn-plugin.pc | head -n1)
config=$(find "$prefix" -name tinycnnConfig.cmake | head -n1)
[[ -n $pc ]] || die "the install lacks the pkg-config file tinycnn-plugin.pc"
[[ -n $config ]] || die "the install lacks the CMake package file tinycnnConfig.cmake"
n_std=$(find "$build/lib/tinycnn/plugins" -maxdepth 1 -name '*.so' | wc -l)
n_inst=$(find "$prefix/lib/tinycnn/plugins" -maxdepth 1 -name '*.so' | wc -l)
[[ $n_std -gt 0 && $n_inst -eq $n_std ]] || die "installed $n_inst standard plugins, built $n_std"
echo "installed: headers, tinycnn, tinycnn-conformance, $n_inst standard plugins,"
echo "           ${config#"$prefix"/}, ${pc#"$prefix"/}"

# The example is built from a copy outside the source tree, so nothing but
# the installed SDK can satisfy its includes and find_package.
cp -r "$src/plugins/example" "$tmp/example"

step "2. the example with CMake: find_package(tinycnn) from $prefix only"
tc_cmake_project "$tmp/example" "$tmp/build-cmake" "the example"
echo "find_package(tinycnn): $found"
cmake --build "$tmp/build-cmake" || die "build the example with CMake"
so_cmake=$tmp/build-cmake/example_layers.so
[[ -f $so_cmake ]] || die "CMake did not produce example_layers.so"

step "3. the example with one cc command and pkg-config"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(pkg-config --cflags tinycnn-plugin) || die "pkg-config --cflags tinycnn-plugin"
[[ $cflags == *"$prefix"* ]] || die "pkg-config gives '$cflags', not the include folder in $prefix"
mkdir -p "$tmp/plugins"
so_cc=$tmp/plugins/example_layers.so
set -x
cc -shared -fPIC -O2 -Wall -Wextra -Werror $(pkg-config --cflags tinycnn-plugin) \
  -o "$so_cc" "$tmp"/example/*.c -lm
{ set +x; } 2>/dev/null

step "3b. the example linked into a program (TC_PLUGIN_STATIC, tc_registry_add_static)"
lib=$(find "$prefix" -name libtinycnn.a | head -n1)
[[ -n $lib ]] || die "the install lacks the runtime library libtinycnn.a"
cat >"$tmp/static_main.c" <<'END'
#include <stdio.h>

#include <tinycnn/registry.h>

int tc_plugin_init_example_layers(const tc_host *host, tc_plugin_ctx *ctx, tc_error *err);

int main(void)
{
    tc_error err = {{0}};
    tc_registry *reg = tc_registry_new();
    if (!reg || tc_registry_add_static(reg, tc_plugin_init_example_layers, "linked-in", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < tc_registry_count(reg); i++) {
        const char *origin = NULL;
        const tc_layer_type *t = tc_registry_get(reg, i, &origin);
        printf("%s from %s\n", t->name, origin);
    }
    tc_registry_free(reg);
    return 0;
}
END
set -x
cc -std=c11 -O2 -Wall -Wextra -Werror -DTC_PLUGIN_STATIC $(pkg-config --cflags tinycnn-plugin) \
  -o "$tmp/static_main" "$tmp/static_main.c" "$tmp"/example/*.c "$lib" \
  -ljansson -lpng -ljpeg -lz -fopenmp -ldl -lpthread -lm ${TINYCNN_TEST_LINK_FLAGS:-}
{ set +x; } 2>/dev/null
nm "$tmp/static_main" >"$tmp/static.nm" || die "nm $tmp/static_main"
grep -qw tc_plugin_init_example_layers "$tmp/static.nm" || die "the program lacks tc_plugin_init_example_layers"
if grep -qw tc_plugin_init "$tmp/static.nm"; then
  die "built with TC_PLUGIN_STATIC, the example still defines tc_plugin_init"
fi
"$tmp/static_main" >"$tmp/static.log" 2>&1 || { cat "$tmp/static.log"; die "the static registration"; }
cat "$tmp/static.log"
[[ $(cat "$tmp/static.log") == $'ELU from linked-in\nScale from linked-in' ]] ||
  die "the program did not register exactly ELU and Scale"

step "4. the installed conformance suite on the example (both builds) and on the standard layers"
# Every layer type gets the same checks: the example's count per type is
# what each standard layer must pass too.
per_type=
for so in "$so_cmake" "$so_cc"; do
  "$prefix/bin/tinycnn-conformance" "$so" >"$tmp/conf.log" 2>&1 || { cat "$tmp/conf.log"; die "conformance of $so"; }
  grep -q "Run Summary" "$tmp/conf.log" || die "no CUnit summary from the conformance suite"
  n=$(sed -n 's/^tinycnn-conformance: PASS: \([0-9]*\) checks of 2 layer types$/\1/p' "$tmp/conf.log")
  [[ -n $n && $((n % 2)) -eq 0 && $n -ge 16 ]] || { cat "$tmp/conf.log"; die "expected 2 types x the same 8 or more checks"; }
  [[ -z $per_type || $per_type -eq $((n / 2)) ]] || die "the two builds got different numbers of checks"
  per_type=$((n / 2))
done
cat "$tmp/conf.log"
(cd "$tmp/build-cmake" && ctest --output-on-failure) || die "ctest of the example project"
"$prefix/bin/tinycnn" check-plugin >"$tmp/std.log" 2>&1 || { cat "$tmp/std.log"; die "conformance of the installed standard layers"; }
# a file may register several types (batch_norm.so: BatchNorm2d and BatchNorm1d)
read -r n_checks n_types < <(sed -n 's/^tinycnn-conformance: PASS: \([0-9]*\) checks of \([0-9]*\) layer types$/\1 \2/p' "$tmp/std.log") ||
  { cat "$tmp/std.log"; die "standard layers: no PASS summary"; }
[[ $n_types -ge $n_inst && $n_checks -eq $((per_type * n_types)) ]] ||
  { cat "$tmp/std.log"; die "standard layers: $n_checks checks of $n_types types, expected $per_type per type and at least $n_inst types"; }
tail -n 9 "$tmp/std.log"

step "5. train models/lenet5_elu.json with the installed runner: 2 epochs x 200 steps"
"$prefix/bin/tinycnn" plugins --plugin-dir "$tmp/plugins" >"$tmp/plugins.txt" || { cat "$tmp/plugins.txt"; die "tinycnn plugins"; }
for t in ELU Scale; do
  grep -q "^$t\b" "$tmp/plugins.txt" || { cat "$tmp/plugins.txt"; die "the runner does not list $t"; }
done
tc_train_and_eval "$src/models/lenet5_elu.json" "$tmp/elu.ckpt" 500

echo
echo "test_sdk.sh: all steps passed"
