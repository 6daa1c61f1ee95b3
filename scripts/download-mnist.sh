#!/bin/sh
# Fetches the four MNIST IDX files into DIR (default data/mnist), uncompressed,
# and checks each against its canonical MD5.
#
#   scripts/download-mnist.sh [--from SRC] [DIR]
#
# Sources, in order: --from SRC, else $TINYCNN_DATA, when that folder holds the
# file (plain or .gz); otherwise the original site, then public mirrors (curl
# or wget). Files already in DIR with the right MD5 are kept as they are.
# Exits non-zero if any file is missing or has the wrong MD5 at the end.
set -u

DEFAULT_DEST=data/mnist
# shellcheck source=download_util.sh
. "$(dirname "$0")/download_util.sh"
parse_args "$@"
if [ -z "$from" ] && [ -n "${TINYCNN_DATA:-}" ]; then
    from="$TINYCNN_DATA"
fi
if [ -n "$from" ] && [ ! -d "$from" ]; then
    echo "$0: --from / TINYCNN_DATA folder '$from' does not exist" >&2
    exit 1
fi

MIRRORS="http://yann.lecun.com/exdb/mnist
https://ossci-datasets.s3.amazonaws.com/mnist
https://storage.googleapis.com/cvdf-datasets/mnist"

expected_md5() {
    case "$1" in
    train-images-idx3-ubyte) echo 6bbc9ace898e44ae57da46a324031adb ;;
    train-labels-idx1-ubyte) echo a25bea736e30d166cdddb491f175f624 ;;
    t10k-images-idx3-ubyte) echo 2646ac647ad5339dbf082846283269ea ;;
    t10k-labels-idx1-ubyte) echo 27ae3e4e09519cfbb04c329615203637 ;;
    esac
}

# Checks $part against the MD5 of $name; moves it into place on success.
accept() { # name part source
    want=$(expected_md5 "$1")
    got=$(md5_of "$2")
    if [ "$got" = "$want" ]; then
        mv -f "$2" "$dest/$1"
        echo "  $1: ok (from $3)"
        return 0
    fi
    echo "  $1: MD5 MISMATCH from $3: got $got, expected $want" >&2
    rm -f "$2"
    return 1
}

mkdir -p "$dest" || { echo "$0: cannot create $dest" >&2; exit 1; }
echo "MNIST into $dest"
failed=0
for name in train-images-idx3-ubyte train-labels-idx1-ubyte \
            t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    want=$(expected_md5 "$name")
    if [ -f "$dest/$name" ]; then
        if [ "$(md5_of "$dest/$name")" = "$want" ]; then
            echo "  $name: already present, MD5 ok"
            continue
        fi
        echo "  $name: present but MD5 differs; fetching it again"
    fi
    part="$dest/$name.part"
    rm -f "$part" "$part.gz"

    if [ -n "$from" ] && { [ -f "$from/$name" ] || [ -f "$from/$name.gz" ]; }; then
        # A local copy: its verdict is final (no silent fall-back to the net).
        if [ -f "$from/$name" ]; then
            src="$from/$name"
            cp "$src" "$part"
        else
            src="$from/$name.gz"
            gzip -dc "$src" >"$part"
        fi || { echo "  $name: cannot read $src" >&2; rm -f "$part"; failed=1; continue; }
        accept "$name" "$part" "$src" || failed=1
        continue
    fi
    if [ -n "$from" ]; then
        echo "  $name: not in $from; downloading"
    fi

    ok=0
    for base in $MIRRORS; do
        url="$base/$name.gz"
        if ! fetch_url "$url" "$part.gz"; then
            echo "  $name: download failed from $url" >&2
            rm -f "$part.gz"
            continue
        fi
        if ! gzip -dc "$part.gz" >"$part"; then
            echo "  $name: $url is not a valid gzip file" >&2
            rm -f "$part" "$part.gz"
            continue
        fi
        rm -f "$part.gz"
        if accept "$name" "$part" "$url"; then
            ok=1
            break
        fi
    done
    [ "$ok" = 1 ] || { echo "  $name: FAILED from every source" >&2; failed=1; }
done

if [ "$failed" != 0 ]; then
    echo "$0: some MNIST files are missing or corrupt (see above)" >&2
    echo "$0: with a copy of the four files elsewhere, run: $0 --from DIR $dest" >&2
    echo "$0: (or point TINYCNN_DATA at that folder)" >&2
    exit 1
fi
echo "MNIST ready in $dest"
