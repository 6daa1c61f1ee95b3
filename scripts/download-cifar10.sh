#!/bin/sh
# Fetches CIFAR-10's binary version into DIR (default data/cifar10): the five
# training batches data_batch_1.bin .. data_batch_5.bin, test_batch.bin and
# the class names batches.meta.txt, which `tinycnn train --data DIR` reads.
#
#   scripts/download-cifar10.sh [--from SRC] [DIR]
#
# The published checksum is of the archive, cifar-10-binary.tar.gz (MD5
# c32a1d4ab5d03f1284b67883e8d87530, 170052171 bytes), so the archive is what
# gets checked: from --from SRC when that folder holds it (its verdict is
# final), otherwise downloaded from the dataset's site (curl or wget). Only
# the seven files above are taken out of it. --from SRC may instead hold the
# unpacked files (or SRC/cifar-10-batches-bin/): they are copied and checked
# by size (each batch 30730000 bytes: 10000 records of 3073) and the names
# file by its 10 names; no MD5 of those files is published.
# The MD5s of the files in DIR are kept in DIR/MD5SUMS, so a second run finds
# them intact and keeps them. Exits non-zero if anything is missing or wrong.
set -u

DEFAULT_DEST=data/cifar10
# shellcheck source=download_util.sh
. "$(dirname "$0")/download_util.sh"
parse_args "$@"
if [ -n "$from" ] && [ ! -d "$from" ]; then
    echo "$0: --from folder '$from' does not exist" >&2
    exit 1
fi

ARCHIVE=cifar-10-binary.tar.gz
ARCHIVE_MD5=c32a1d4ab5d03f1284b67883e8d87530
URL="https://www.cs.toronto.edu/~kriz/$ARCHIVE"
SUBDIR=cifar-10-batches-bin
BATCHES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin
test_batch.bin"
FILES="$BATCHES batches.meta.txt"
BATCH_BYTES=30730000

size_of() { wc -c <"$1" | tr -d ' '; }

# Checks the unpacked files in folder $1: sizes and the names count.
check_files() {
    ok=0
    for f in $BATCHES; do
        if [ ! -f "$1/$f" ]; then
            echo "  $f: missing in $1" >&2
            ok=1
        elif [ "$(size_of "$1/$f")" != "$BATCH_BYTES" ]; then
            echo "  $f: $(size_of "$1/$f") bytes, expected $BATCH_BYTES" >&2
            ok=1
        fi
    done
    if [ ! -f "$1/batches.meta.txt" ]; then
        echo "  batches.meta.txt: missing in $1" >&2
        ok=1
    elif [ "$(grep -c '[^[:space:]]' "$1/batches.meta.txt")" != 10 ]; then
        echo "  batches.meta.txt: does not hold 10 class names" >&2
        ok=1
    fi
    return $ok
}

# Unpacks the seven files of a checked archive $1 into $dest.
unpack() {
    tmp="$dest/.unpack.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" || return 1
    members=""
    for f in $FILES; do members="$members $SUBDIR/$f"; done
    # shellcheck disable=SC2086 # the member names are ours, without blanks
    if ! tar -xzf "$1" -C "$tmp" $members; then
        echo "  $1: cannot unpack" >&2
        rm -rf "$tmp"
        return 1
    fi
    for f in $FILES; do mv -f "$tmp/$SUBDIR/$f" "$dest/$f" || return 1; done
    rm -rf "$tmp"
}

# Checks archive $1 against ARCHIVE_MD5 (a mismatch reported as "MD5 MISMATCH
# $2", a match as "ok (from $3)") and unpacks it into $dest.
check_and_unpack() {
    got=$(md5_of "$1")
    if [ "$got" != "$ARCHIVE_MD5" ]; then
        echo "  $ARCHIVE: MD5 MISMATCH $2: got $got, expected $ARCHIVE_MD5" >&2
        return 1
    fi
    echo "  $ARCHIVE: ok (from $3)"
    unpack "$1"
}

record_md5s() {
    : >"$dest/MD5SUMS.part"
    for f in $FILES; do echo "$(md5_of "$dest/$f")  $f" >>"$dest/MD5SUMS.part"; done
    mv -f "$dest/MD5SUMS.part" "$dest/MD5SUMS"
}

already_there() {
    [ -f "$dest/MD5SUMS" ] || return 1
    for f in $FILES; do
        [ -f "$dest/$f" ] || return 1
        want=$(grep "  $f\$" "$dest/MD5SUMS" | cut -d' ' -f1)
        [ -n "$want" ] && [ "$(md5_of "$dest/$f")" = "$want" ] || return 1
    done
    check_files "$dest" 2>/dev/null
}

mkdir -p "$dest" || { echo "$0: cannot create $dest" >&2; exit 1; }
echo "CIFAR-10 into $dest"
if already_there; then
    echo "  all files present, MD5s as recorded in $dest/MD5SUMS"
    echo "CIFAR-10 ready in $dest"
    exit 0
fi
if [ -f "$dest/MD5SUMS" ]; then
    echo "  files in $dest are missing or differ from $dest/MD5SUMS; fetching them again"
    rm -f "$dest/MD5SUMS"
fi

failed=0
if [ -n "$from" ] && [ -f "$from/$ARCHIVE" ]; then
    check_and_unpack "$from/$ARCHIVE" "in $from" "$from" || failed=1
elif [ -n "$from" ]; then
    src="$from"
    [ -f "$src/data_batch_1.bin" ] || [ ! -d "$from/$SUBDIR" ] || src="$from/$SUBDIR"
    if check_files "$src"; then
        for f in $FILES; do
            cp "$src/$f" "$dest/$f.part" && mv -f "$dest/$f.part" "$dest/$f" || failed=1
        done
        [ "$failed" = 0 ] && echo "  unpacked files: sizes and names ok (from $src; no published MD5)"
    else
        echo "  $from holds neither $ARCHIVE nor good unpacked files (see above)" >&2
        failed=1
    fi
else
    part="$dest/$ARCHIVE.part"
    rm -f "$part"
    if ! fetch_url "$URL" "$part"; then
        echo "  $ARCHIVE: download failed from $URL" >&2
        failed=1
    else
        check_and_unpack "$part" "from $URL" "$URL" || failed=1
    fi
    rm -f "$part"
fi

if [ "$failed" = 0 ] && check_files "$dest"; then
    record_md5s
    echo "CIFAR-10 ready in $dest"
    exit 0
fi
echo "$0: CIFAR-10 is missing or corrupt in $dest (see above)" >&2
echo "$0: with the archive $ARCHIVE (or its unpacked files) elsewhere, run: $0 --from DIR $dest" >&2
exit 1
