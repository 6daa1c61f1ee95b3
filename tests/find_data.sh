#!/usr/bin/env bash
# scripts/find-data.sh, as test.sh and quickstart.sh use it, in a made-up
# project folder beside a made-up shared/data/mnist: $TINYCNN_DATA first
# (and refused when it holds no MNIST), then data/mnist, then
# ../shared/data/mnist, else scripts/download-mnist.sh data/mnist (here a
# stand-in that records its arguments); the result is an absolute path.
#   tests/find_data.sh SOURCE_DIR
set -u
src=$(cd "${1:?usage: find_data.sh SOURCE_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# The stand-in download: logs its arguments, then makes the folder it was
# given hold MNIST, or fails when $FAKE_DOWNLOAD_FAILS is set.
mkdir -p "$tmp/work/proj/scripts"
cat >"$tmp/work/proj/scripts/download-mnist.sh" <<'EOF'
#!/bin/sh
echo "$*" >>"$DOWNLOAD_LOG"
[ -z "${FAKE_DOWNLOAD_FAILS:-}" ] || exit 1
mkdir -p "$1" && : >"$1/train-images-idx3-ubyte"
EOF
chmod +x "$tmp/work/proj/scripts/download-mnist.sh"
export DOWNLOAD_LOG=$tmp/download.log

# found [VAR=VALUE...]: runs the finder in the project folder with a clean
# TINYCNN_DATA (and the assignments given); prints what it exported, and
# "FAILED: message" when it failed.
found() {
    (
        cd "$tmp/work/proj" || exit 1
        unset TINYCNN_DATA
        for a in "$@"; do export "${a?}"; done
        # shellcheck source=../scripts/find-data.sh
        source "$src/scripts/find-data.sh"
        if tinycnn_find_mnist 2>"$tmp/stderr"; then
            echo "$TINYCNN_DATA"
        else
            echo "FAILED: $(cat "$tmp/stderr")"
        fi
    )
}

expect() { # expect NAME WANTED GOT
    if [[ $3 == "$2" ]]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected '$2', got '$3'"
        fails=$((fails + 1))
    fi
}

p=$tmp/work/proj
mkdir -p "$tmp/own" "$tmp/empty" "$tmp/work/shared/data/mnist"
: >"$tmp/own/train-images-idx3-ubyte.gz"
: >"$tmp/work/shared/data/mnist/train-images-idx3-ubyte"

expect "TINYCNN_DATA first" "$tmp/own" "$(found TINYCNN_DATA="$tmp/own")"
expect "TINYCNN_DATA relative, made absolute" "$tmp/own" "$(found TINYCNN_DATA=../../own)"
got=$(found TINYCNN_DATA="$tmp/empty")
expect "TINYCNN_DATA without MNIST refused, named" \
    "FAILED: TINYCNN_DATA=$tmp/empty holds no MNIST (train-images-idx3-ubyte or .gz)" "$got"
expect "../shared/data/mnist without data/mnist" "$tmp/work/shared/data/mnist" "$(found)"
mkdir -p "$p/data/mnist"
expect "an empty data/mnist is passed over" "$tmp/work/shared/data/mnist" "$(found)"
: >"$p/data/mnist/train-images-idx3-ubyte.gz"
expect "data/mnist before ../shared" "$p/data/mnist" "$(found)"
[[ ! -e $DOWNLOAD_LOG ]]
expect "no download while a copy exists" 0 $?

rm -rf "$p/data" "$tmp/work/shared"
expect "nothing found: downloaded into data/mnist" "$p/data/mnist" "$(found)"
expect "the download's arguments" "data/mnist" "$(cat "$DOWNLOAD_LOG" 2>/dev/null)"
rm -rf "$p/data"
got=$(found FAKE_DOWNLOAD_FAILS=1)
expect "a failed download fails" "FAILED: MNIST is not in data/mnist or ../shared/data/mnist: downloading it" "$got"

# the two scripts use it (and no copy of their own)
for s in test.sh quickstart.sh; do
    n=$(grep -c '^ *source scripts/find-data.sh' "$src/scripts/$s")
    expect "$s sources find-data.sh" 1 "$n"
    n=$(grep -c 'download-mnist.sh' "$src/scripts/$s")
    expect "$s has no download of its own" 0 "$n"
done

if ((fails)); then
    echo "find_data: $fails check(s) failed"
    exit 1
fi
echo "find_data: all checks passed"
