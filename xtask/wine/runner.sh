#!/usr/bin/env bash
# Cargo's runner for the Windows test binaries of the windows lane:
# `runner.sh PROGRAM ARGS...` runs PROGRAM under wine ($NETIPC_WINE64).
#
# Wine now and then fails to start a process at all: it exits with status 1
# before the program has printed a byte. A test binary never does that (a
# failing libtest run prints its report and exits 101), so such a start is
# tried once more, with a note on stderr. The same goes for a test binary
# that failed because wine could not start one of the test's own child
# processes (CreateProcess failing with ERROR_INTERNAL_ERROR, "code: 1359",
# an error no test expects). Every other outcome, failures included, is
# passed through unchanged.
set -u
wine="${NETIPC_WINE64:?NETIPC_WINE64 must name wine64}"
out="$(mktemp)" || exit 1
trap 'rm -f "$out"' EXIT
for attempt in 1 2; do
    "$wine" "$@" | tee "$out"
    status=${PIPESTATUS[0]}
    if [ "$status" -eq 1 ] && [ ! -s "$out" ] && [ "$attempt" -eq 1 ]; then
        echo "xtask: wine did not start $1 (exit 1, no output); starting it once more" >&2
        continue
    fi
    if [ "$status" -ne 0 ] && [ "$attempt" -eq 1 ] && grep -q "code: 1359," "$out"; then
        echo "xtask: wine could not start a child process of $1 (error 1359); running it once more" >&2
        continue
    fi
    exit "$status"
done
