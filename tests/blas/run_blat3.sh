#!/bin/sh
# Runs one reference BLAS level-3 test program (Debian package libblas-test: xblat3s,
# xblat3d, xscblat3, xdcblat3) with libusine preloaded, so that the routine under test
# (sgemm_, dgemm_, cblas_sgemm or cblas_dgemm) and the calls it makes come from usine
# while the program's own xerbla_ / cblas_xerbla check every error exit.
#
# Usage: run_blat3.sh LIBUSINE PROBE TESTER INPUT ROUTINE [SUMMARY]
#   LIBUSINE  path of libusine.so
#   PROBE     a program that exits 77 when the USINE_* environment asks for an ISA this
#             CPU lacks (the ctest matrix), 0 otherwise
#   TESTER    the test program, e.g. /usr/lib/x86_64-linux-gnu/blas/xscblat3
#   INPUT     its input file (stdin)
#   ROUTINE   the routine tested, as the program names it: SGEMM, DGEMM, cblas_sgemm, ...
#   SUMMARY   the summary file INPUT names (Fortran testers); the CBLAS testers write
#             their summary on stdout
# Environment: USINE_TEST_SANITIZED=1 skips (a sanitizer runtime must be loaded first, so
# libusine.so built with sanitizers cannot be preloaded into these programs).
#
# Passes only if the program exits 0, prints the routine's PASSED lines for the error
# exits and for the computational tests (both layouts for CBLAS) and no failure line, and
# the dynamic linker bound the routine to libusine. Exit 77 (ctest: skipped) with a SKIP
# line when the program or the CPU features are missing.
set -u

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    exit 1
}

[ $# -ge 5 ] || fail "usage: $0 LIBUSINE PROBE TESTER INPUT ROUTINE [SUMMARY]"
lib=$1
probe=$2
tester=$3
input=$4
routine=$5
summary=${6:-}

[ "${USINE_TEST_SANITIZED:-0}" = 1 ] &&
    skip "libusine was built with sanitizers: it cannot be preloaded into $tester"
[ -x "$tester" ] ||
    skip "$tester is not installed (Debian package libblas-test)"
[ -r "$lib" ] || fail "$lib not found"
[ -r "$input" ] || fail "$input not found"

"$probe"
status=$?
[ $status -eq 77 ] && exit 77
[ $status -eq 0 ] || fail "$probe exited with status $status"

case $routine in
cblas_*)
    symbol=$routine
    kind=cblas
    ;;
*)
    symbol=$(echo "$routine" | tr 'A-Z' 'a-z')_
    kind=fortran
    ;;
esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/usine-blat3.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$dir"' EXIT HUP INT TERM
cd "$dir" || fail "cd $dir failed"

echo "running: LD_PRELOAD=$lib $tester < $input"
LD_PRELOAD=$lib LD_DEBUG=bindings LD_DEBUG_OUTPUT=$dir/bindings \
    "$tester" <"$input" >stdout 2>stderr
status=$?

report=stdout
[ -n "$summary" ] && report=$summary
echo "---- summary ($report)"
[ -f "$report" ] && cat "$report"
if [ "$report" != stdout ] && [ -s stdout ]; then
    echo "---- stdout"
    cat stdout
fi
if [ -s stderr ]; then
    echo "---- stderr"
    cat stderr
fi
echo "----"

[ $status -eq 0 ] || fail "$tester exited with status $status"
[ -s "$report" ] || fail "$tester wrote no summary ($report)"
[ -s stderr ] && fail "$tester wrote on stderr (see above)"

# Every way these programs report a problem (BLAS/TESTING/?blat3.f, CBLAS/testing/).
bad='FAIL|\*\*\*\*\*|ILLEGAL|NOT DETECTED|XERBLA WAS CALLED|FATAL|SUSPECT|ABANDONED'
bad="$bad|NOT RECOGNIZED|AMEND DATA|ERROR IN|WILL NOT BE TESTED|CHANGED INCORRECTLY|WRONGLY"
bad="$bad|COMPLETED THE"
if grep -E "$bad" "$report" stdout >/dev/null 2>&1; then
    echo "failure lines:"
    grep -n -E "$bad" "$report" stdout
    fail "$tester reported failures for $routine"
fi

need() {
    grep -E "^ $routine +$1" "$report" >/dev/null || fail "missing line: ' $routine $1'"
}
need "PASSED THE TESTS OF ERROR-EXITS"
if [ $kind = cblas ]; then
    need "PASSED THE COLUMN-MAJOR COMPUTATIONAL TESTS"
    need "PASSED THE ROW-MAJOR +COMPUTATIONAL TESTS"
else
    need "PASSED THE COMPUTATIONAL TESTS"
fi
grep -E '^ END OF TESTS' "$report" >/dev/null || fail "missing line: ' END OF TESTS'"

# Proof that usine computed: the program's reference to the routine bound to libusine.
libname=$(basename "$lib")
if ! cat bindings* 2>/dev/null | grep -F "$libname" |
    grep -F "normal symbol \`$symbol'" >/dev/null; then
    fail "$symbol was not bound to $libname (LD_PRELOAD ignored?)"
fi
echo "bound: $symbol -> $libname"
echo "PASS: $routine through $libname"
exit 0
