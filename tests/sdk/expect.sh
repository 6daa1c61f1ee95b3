#!/usr/bin/env bash
# expect.sh STATUS PATTERN... -- COMMAND [ARGS]...
# Runs COMMAND, shows its output, and passes only when it exits with STATUS
# (a crash never matches) and its output matches every extended regex PATTERN.
set -u
want=$1
shift
pats=()
while [[ $# -gt 0 && $1 != -- ]]; do
  pats+=("$1")
  shift
done
[[ $# -gt 1 ]] || { echo "usage: expect.sh STATUS PATTERN... -- COMMAND [ARGS]..." >&2; exit 2; }
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [[ $rc -ne $want ]]; then
  echo "expect.sh: FAILED: exit status $rc, expected $want from: $*" >&2
  exit 1
fi
for p in "${pats[@]}"; do
  if ! grep -Eq -- "$p" <<<"$out"; then
    echo "expect.sh: FAILED: the output lacks /$p/" >&2
    exit 1
  fi
done
echo "expect.sh: exit status $rc as expected, and all ${#pats[@]} patterns found"
