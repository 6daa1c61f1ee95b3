#!/usr/bin/env bash
# test_check_plugin_faults.sh TINYCNN PLUGIN_DIR SANITIZE
# `tinycnn check-plugin` on plugins whose forward segfaults, aborts,
# overflows its stack, segfaults in a thread, calls exit(0) or loops
# forever (tests/plugins/faults/fault.c): each run must exit with status 1,
# print the summary, name a failed check with the fault's reason, still run
# (and pass) the metadata check, and finish within a bound set by the
# 1-second per-check limit. SANITIZE=1: under AddressSanitizer a caught
# fault ends the child with a non-zero status instead of the signal.
set -u
tinycnn=$1 dir=$2 sanitize=${3:-0}
limit=1     # --check-timeout, seconds
bound=60    # 14 checks at the limit each, and slack for a loaded machine
failures=0

if [[ $sanitize == 1 ]]; then
  segv='(crashed \(signal 11 SIGSEGV|the child process exited with status [1-9])'
  abrt='(crashed \(signal 6 SIGABRT|the child process exited with status [1-9])'
else
  segv='crashed \(signal 11 SIGSEGV: '
  abrt='crashed \(signal 6 SIGABRT: '
fi
declare -A reason=(
  [segv]=$segv [abort]=$abrt [stack]=$segv [thread]=$segv
  [exit]='called exit\(0\): the process ended before the check finished'
  [loop]="did not finish within $limit s"
)

fail() { echo "FAILED ($1): $2" >&2; failures=$((failures + 1)); }

for fault in segv abort stack thread exit loop; do
  plugin=$dir/fault_$fault.so
  start=$SECONDS
  out=$("$tinycnn" check-plugin --check-timeout $limit "$plugin" 2>&1)
  rc=$? took=$((SECONDS - start))
  printf '%s\n' "$out" | tail -n 20
  [[ $rc -eq 1 ]] || fail $fault "exit status $rc, expected 1"
  (( took <= bound )) || fail $fault "took $took s, more than $bound s"
  grep -Eq 'tinycnn-conformance: FAIL: [0-9]+ of 14 checks failed \(14 ran\)' <<<"$out" ||
    fail $fault "no summary line 'FAIL: N of 14 checks failed (14 ran)'"
  # a check named in the failure list with the reason, e.g.
  # "Fault: construction with default parameters: the check crashed (...)"
  grep -Eq "^  Fault: construction with default parameters: .*${reason[$fault]}" <<<"$out" ||
    fail $fault "the construction check is not listed as failed with /${reason[$fault]}/"
  n=$(grep -Ec "^  Fault: .*${reason[$fault]}" <<<"$out")
  (( n >= 5 )) || fail $fault "only $n failures give the reason, expected one per check run"
  # all 14 ran, and at least the metadata check (which runs no forward) passed
  grep -Eq 'tests +14 +14 +[1-9][0-9]* +[0-9]+ +0' <<<"$out" ||
    fail $fault "the CUnit summary does not show 14 checks run, some passed"
  echo "check-plugin on fault_$fault: status $rc in $took s"
done

# the limit is an option and an environment variable, documented, and checked
"$tinycnn" check-plugin --help | grep -q -- '--check-timeout SECONDS' ||
  fail options "'check-plugin --help' does not document --check-timeout"
"$tinycnn" check-plugin --help | grep -q 'TINYCNN_CHECK_TIMEOUT' ||
  fail options "'check-plugin --help' does not name TINYCNN_CHECK_TIMEOUT"
out=$("$tinycnn" check-plugin --check-timeout 0 "$dir/fault_loop.so" 2>&1)
[[ $? -eq 2 ]] || fail options "--check-timeout 0 was not a usage error: $out"
out=$(TINYCNN_CHECK_TIMEOUT=1 "$tinycnn" check-plugin --check construction \
      "$dir/fault_loop.so" 2>&1)
grep -q 'did not finish within 1 s' <<<"$out" ||
  fail options "TINYCNN_CHECK_TIMEOUT=1 did not set the limit: $out"

if (( failures )); then
  echo "test_check_plugin_faults: $failures failure(s)" >&2
  exit 1
fi
echo "test_check_plugin_faults: all 6 faults reported, every run bounded"
