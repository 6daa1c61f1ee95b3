#!/usr/bin/env bash
# The library as an application developer meets it: install the build tree
# to a fresh prefix, then build examples/classify.c, copied out of the source
# tree, against that prefix only, four ways:
#   a. CMake, find_package(tinycnn), tinycnn::tinycnn (libtinycnn.so);
#   b. CMake, tinycnn::layers + tinycnn::tinycnn_static: one program that
#      needs no libtinycnn.so and loads no plugin file (run with the install's
#      plugin folder taken away, which must make build a fail);
#   c. one cc line with `pkg-config --cflags --libs tinycnn` (shared);
#   d. one cc -static line with `pkg-config --static`: a fully static program.
# Each classifies MNIST test digits (PNGs made here) with a LeNet-5 trained
# here by the installed runner; all four must print the same class and
# probability, and the same as `tinycnn predict --json` for that PNG.
# usage: test_install.sh BUILD_DIR SOURCE_DIR MNIST_DIR
set -euo pipefail
# shellcheck source=../sh_util.sh
source "$(dirname "$0")/../sh_util.sh"

tc_test_args t10k-images-idx3-ubyte "$@"
tc_need_tools cmake cc pkg-config readelf nm python3
tc_make_tmp install
unset LD_LIBRARY_PATH

tc_install include/tinycnn/model.h include/tinycnn/layers.h bin/tinycnn
pc=$(find "$prefix" -name tinycnn.pc | head -n1)
[[ -n $pc ]] || die "the install lacks the pkg-config file tinycnn.pc"
libdir=$(dirname "$(dirname "$pc")")
for f in libtinycnn.a libtinycnn_layers.a cmake/tinycnn/tinycnnTargets.cmake; do
  [[ -e $libdir/$f ]] || die "the install lacks ${libdir#"$prefix"/}/$f"
done
# the versioned shared library: libtinycnn.so -> .so.MAJOR -> .so.MAJOR.MINOR.PATCH
version=$(sed -n 's/^Version: *//p' "$pc")
major=${version%%.*}
real=$libdir/libtinycnn.so.$version
[[ -f $real && ! -L $real ]] || die "the install lacks the file libtinycnn.so.$version"
[[ $(readlink "$libdir/libtinycnn.so") == "libtinycnn.so.$major" &&
   $(readlink "$libdir/libtinycnn.so.$major") == "libtinycnn.so.$version" ]] ||
  die "libtinycnn.so links: $(ls -l "$libdir"/libtinycnn.so*)"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libtinycnn.so.$major" ]] || die "libtinycnn.so.$version has SONAME '$soname'"
# (nm into a file: grep -q stopping early would fail the pipe under pipefail)
nm -g --defined-only "$libdir/libtinycnn_layers.a" >"$tmp/layers.nm" || die "nm libtinycnn_layers.a"
grep -qw tc_register_standard_layers "$tmp/layers.nm" ||
  die "libtinycnn_layers.a lacks tc_register_standard_layers"
plugins=$prefix/lib/tinycnn/plugins
n_plugins=$(find "$plugins" -maxdepth 1 -name '*.so' | wc -l)
[[ $n_plugins -gt 0 ]] || die "no plugins installed in $plugins"
echo "installed: libtinycnn.so.$version (SONAME $soname), libtinycnn.a, libtinycnn_layers.a,"
echo "           $n_plugins plugins, ${pc#"$prefix"/}"

step "2. a LeNet-5 trained by the installed runner, and three test digits as PNG"
"$prefix/bin/tinycnn" train "$src/models/lenet5.json" --data "$data" --epochs 1 \
  --limit 640 --test-limit 100 --batch-size 32 --threads 2 --quiet -o "$tmp/lenet5.ckpt" \
  >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; die "training"; }
# Written by Python from the IDX file, independently of the library.
python3 - "$data" "$tmp" <<'PY' || die "making the PNGs"
import gzip, os, struct, sys, zlib
data, out = sys.argv[1], sys.argv[2]
path = os.path.join(data, "t10k-images-idx3-ubyte")
raw = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
magic, n, h, w = struct.unpack(">IIII", raw[:16])
assert magic == 0x803 and n >= 3, "not an IDX3 image file"
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
for i in range(3):
    px = raw[16 + i * h * w: 16 + (i + 1) * h * w]
    rows = b"".join(b"\0" + px[y * w:(y + 1) * w] for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    open(os.path.join(out, "digit%d.png" % i), "wb").write(png)
PY
digits=("$tmp"/digit0.png "$tmp"/digit1.png "$tmp"/digit2.png)
"$prefix/bin/tinycnn" predict "$tmp/lenet5.ckpt" "${digits[@]}" --json --top 1 \
  >"$tmp/predict.json" || { cat "$tmp/predict.json"; die "tinycnn predict"; }
# "CLASS PROBABILITY" per image, in order, as classify prints them
python3 - "$tmp/predict.json" >"$tmp/expected.txt" <<'PY' || die "reading predict's JSON"
import json, sys
for p in json.load(open(sys.argv[1]))["predictions"]:
    print(p["prediction"], repr(p["top"][0]["probability"]))
PY
echo "tinycnn predict:"; cat "$tmp/expected.txt"

cp -r "$src/examples" "$tmp/examples"
export PKG_CONFIG_PATH=$libdir/pkgconfig

step "3a. CMake, find_package(tinycnn), tinycnn::tinycnn"
cmake_build() { # BUILD_DIR CMAKE_OPTIONS...
  local dir=$1; shift
  cmake -S "$tmp/examples" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" "$@" \
    >"$dir.log" 2>&1 || { cat "$dir.log"; die "configure $dir"; }
  local found
  found=$(sed -n 's/^tinycnn_DIR:PATH=//p' "$dir/CMakeCache.txt")
  [[ $found == "$prefix"/* ]] || die "find_package(tinycnn) used '$found', not the install in $prefix"
  cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log"; die "build $dir"; }
  [[ -x $dir/classify ]] || die "$dir: no classify program"
}
cmake_build "$tmp/a"
needs() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
[[ " $(needs "$tmp/a/classify") " == *" libtinycnn.so.$major "* ]] ||
  die "a: classify needs $(needs "$tmp/a/classify"), not libtinycnn.so.$major"
# resolved to the install's copy, not to some other libtinycnn on the system
uses_install() { # PROGRAM
  local lib
  lib=$(ldd "$1" | sed -n 's/^[[:space:]]*libtinycnn\.so[^ ]* => \([^ ]*\).*/\1/p')
  [[ $lib == "$libdir/libtinycnn.so.$major" ]] || die "$1 loads libtinycnn from '$lib', not $libdir"
}
uses_install "$tmp/a/classify"
echo "a: needs $(needs "$tmp/a/classify")"

step "3b. CMake, tinycnn::layers + tinycnn::tinycnn_static: one self-contained program"
cmake_build "$tmp/b" -DCLASSIFY_STATIC=ON
[[ " $(needs "$tmp/b/classify") " != *tinycnn* ]] || die "b: classify needs $(needs "$tmp/b/classify")"
nm "$tmp/b/classify" >"$tmp/b.nm" || die "nm b/classify"
grep -qw tc_register_standard_layers "$tmp/b.nm" || die "b: no tc_register_standard_layers in classify"
echo "b: needs $(needs "$tmp/b/classify")"

step "3c. one cc line: pkg-config --cflags --libs tinycnn"
for q in --cflags --libs; do
  [[ $(pkg-config $q tinycnn) == *"$prefix"* ]] || die "pkg-config $q tinycnn gives '$(pkg-config $q tinycnn)', not the install in $prefix"
done
set -x
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$tmp/c-classify" "$tmp/examples/classify.c" \
  $(pkg-config --cflags --libs tinycnn) -Wl,-rpath,"$libdir"
{ set +x; } 2>/dev/null
[[ " $(needs "$tmp/c-classify") " == *" libtinycnn.so.$major "* ]] ||
  die "c: classify needs $(needs "$tmp/c-classify"), not libtinycnn.so.$major"
uses_install "$tmp/c-classify"

step "3d. one cc -static line: pkg-config --static --cflags --libs tinycnn"
static_libs=$(pkg-config --static --libs tinycnn) || die "pkg-config --static --libs tinycnn"
echo "pkg-config --static --libs tinycnn: $static_libs"
set -x
cc -static -std=c11 -O2 -Wall -Wextra -Werror -DCLASSIFY_STATIC_LAYERS -o "$tmp/d-classify" \
  "$tmp/examples/classify.c" $(pkg-config --cflags tinycnn) -ltinycnn_layers \
  $(pkg-config --static --libs tinycnn) 2>"$tmp/d.log" || { cat "$tmp/d.log"; die "the static link"; }
{ set +x; } 2>/dev/null
# glibc warns that a static program calling dlopen needs its shared
# libraries at run time; anything else the linker says is a failure.
# (each warning comes after a line naming the function: "...: in function `f':")
if grep -v -e "statically linked applications requires at runtime" -e ": in function .*':\$" \
     "$tmp/d.log" | grep -q .; then
  cat "$tmp/d.log"; die "the static link printed warnings"
fi
[[ -z $(needs "$tmp/d-classify") ]] || die "d: the static program needs $(needs "$tmp/d-classify")"
readelf -l "$tmp/d-classify" | grep -q INTERP && die "d: the static program has a dynamic loader"
echo "d: fully static (no NEEDED, no INTERP)"

step "4. each program on the digits; b and d also without the install's plugin folder"
classify_all() { # PROGRAM: one "CLASS PROBABILITY" line per digit
  local i
  for i in "${digits[@]}"; do
    "$1" "$tmp/lenet5.ckpt" "$i" || return 1
  done
}
classify_all "$tmp/a/classify" >"$tmp/out.a" || die "a: classify failed"
classify_all "$tmp/c-classify" >"$tmp/out.c" || die "c: classify failed"
# b with the plugins in place: the dynamic loader's log must show no file
# from the install (no libtinycnn.so, no plugin)
LD_DEBUG=files classify_all "$tmp/b/classify" >"$tmp/out.b" 2>"$tmp/b-ld.log" ||
  { cat "$tmp/b-ld.log"; die "b: classify failed"; }
grep -q "file=libc.so" "$tmp/b-ld.log" || die "b: LD_DEBUG=files logged nothing, so checked nothing"
if grep -E "file=(libtinycnn|$prefix/)" "$tmp/b-ld.log"; then die "b: loaded the files above"; fi
mv "$plugins" "$tmp/plugins-away"
# the control: without its plugins, the shared build must fail
if "$tmp/a/classify" "$tmp/lenet5.ckpt" "${digits[0]}" >"$tmp/a-noplugins.log" 2>&1; then
  die "a: classify ran without the plugin folder: the runs of b and d below would prove nothing"
fi
echo "a without plugins: $(cat "$tmp/a-noplugins.log")"
classify_all "$tmp/b/classify" >"$tmp/out.b2" || die "b: classify failed without the plugin folder"
classify_all "$tmp/d-classify" >"$tmp/out.d" || die "d: classify failed without the plugin folder"
mv "$tmp/plugins-away" "$plugins"
cmp -s "$tmp/out.b" "$tmp/out.b2" || die "b printed other results without the plugin folder"

for v in a b c d; do
  echo "$v: $(tr '\n' ' ' <"$tmp/out.$v")"
  cmp -s "$tmp/out.a" "$tmp/out.$v" || die "build $v printed other results than build a"
done
# predict's probability is a double; classify prints a float to 6 places
paste -d' ' "$tmp/expected.txt" "$tmp/out.a" | awk '{
  if (NF != 4 || $1 != $3 || ($2 - $4) > 2e-6 || ($4 - $2) > 2e-6) { print "differs: " $0; bad = 1 }
} END { exit bad }' || die "classify and tinycnn predict disagree (predict class, prob, classify class, prob)"
[[ $(wc -l <"$tmp/out.a") -eq 3 ]] || die "expected 3 results"

echo
echo "test_install.sh: all steps passed"
