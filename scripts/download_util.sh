# download_util.sh - sourced by scripts/download-mnist.sh and
# scripts/download-cifar10.sh: their options, MD5s and downloads.
# POSIX sh; the caller sets `set -u` and DEFAULT_DEST before sourcing.
# shellcheck disable=SC2034 # from and dest are the caller's

usage() {
    echo "usage: $0 [--from SRC_DIR] [DEST_DIR]   (DEST_DIR defaults to $DEFAULT_DEST)" >&2
    exit 2
}

# parse_args "$@": sets from (--from SRC, may be empty) and dest (DEST_DIR,
# else DEFAULT_DEST).
parse_args() {
    from=""
    dest=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --from) [ $# -ge 2 ] || usage; from="$2"; shift 2 ;;
        --from=*) from="${1#--from=}"; shift ;;
        -h|--help) usage ;;
        -*) echo "$0: unknown option $1" >&2; usage ;;
        *) [ -z "$dest" ] || usage; dest="$1"; shift ;;
        esac
    done
    dest="${dest:-$DEFAULT_DEST}"
}

md5_of() {
    if command -v md5sum >/dev/null 2>&1; then
        md5sum "$1" | cut -d' ' -f1
    elif command -v md5 >/dev/null 2>&1; then
        md5 -q "$1"
    else
        echo "$0: need md5sum or md5 to check the files" >&2
        exit 1
    fi
}

fetch_url() { # url out
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 20 -t 2 -O "$2" "$1"
    else
        echo "$0: need curl or wget to download (or use --from DIR)" >&2
        return 1
    fi
}
