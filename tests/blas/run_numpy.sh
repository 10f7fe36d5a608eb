#!/bin/sh
# numpy's matmul through libusine: LD_PRELOAD=libusine.so python3 -c '...' multiplies
# float32 and float64 matrices (Debian's numpy calls cblas_sgemm / cblas_dgemm of
# libcblas.so.3 / libblas.so.3, which the preload replaces), checks them against a long
# double product, and proves that usine computed them: USINE_VERBOSE=1 makes usine print
# one line per GEMM on stderr, and those lines must be there for f32 and for f64.
#
# Usage: run_numpy.sh LIBUSINE PROBE
# Environment: USINE_TEST_PYTHON (tried first), USINE_TEST_SANITIZED=1 (skip).
# Exit 77 (ctest: skipped) with a SKIP line when no python3 with numpy is found (Debian
# package python3-numpy), or when its numpy carries a private BLAS that a preload cannot
# replace.
set -u

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    exit 1
}

[ $# -ge 2 ] || fail "usage: $0 LIBUSINE PROBE"
lib=$1
probe=$2
[ "${USINE_TEST_SANITIZED:-0}" = 1 ] &&
    skip "libusine was built with sanitizers: it cannot be preloaded into python3"
[ -r "$lib" ] || fail "$lib not found"

python=
for candidate in ${USINE_TEST_PYTHON:-} python3 /usr/bin/python3; do
    if "$candidate" -c 'import numpy' >/dev/null 2>&1; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] || skip "no python3 with numpy (Debian package python3-numpy)"
echo "python: $(command -v "$python"), numpy $("$python" -c 'import numpy; print(numpy.__version__)')"

"$probe"
status=$?
[ $status -eq 77 ] && exit 77
[ $status -eq 0 ] || fail "$probe exited with status $status"

# A numpy wheel from PyPI links a renamed private OpenBLAS: nothing to interpose.
module=$("$python" -c 'import numpy.core._multiarray_umath as m; print(m.__file__)' 2>/dev/null)
if [ -n "$module" ] && command -v nm >/dev/null 2>&1; then
    nm -D --undefined-only "$module" | grep -w cblas_sgemm >/dev/null ||
        skip "$module does not call cblas_sgemm through the dynamic linker (private BLAS)"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/usine-numpy.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$dir"' EXIT HUP INT TERM

code='
import numpy as np
rng = np.random.default_rng(20261125)
worst = {}
for dt in (np.float32, np.float64):
    u = np.finfo(dt).eps / 2
    for m, k, n in ((67, 45, 53), (128, 96, 80), (5, 300, 7)):
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        # C-ordered, Fortran-ordered and transposed views: numpy passes layouts/transposes
        cases = [(a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)),
                 (np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T)]
        for x, y in cases:
            c = x @ y
            assert c.dtype == dt, c.dtype
            ref = x.astype(np.longdouble) @ y.astype(np.longdouble)
            scale = np.abs(x).astype(np.longdouble) @ np.abs(y).astype(np.longdouble)
            err = float(np.max(np.abs(c - ref) / scale))
            worst[dt.__name__] = max(worst.get(dt.__name__, 0.0), err / u)
            assert err <= (k + 3) * u, (dt.__name__, m, k, n, err)
print("numpy matmul: worst error", worst, "(in units of the roundoff, bound k + 3)")
'
echo "running: LD_PRELOAD=$lib USINE_VERBOSE=1 $python -c ..."
LD_PRELOAD=$lib USINE_VERBOSE=1 "$python" -c "$code" >"$dir/stdout" 2>"$dir/stderr"
status=$?
cat "$dir/stdout"
grep -v '^usine: usine_gemm ' "$dir/stderr"
f32=$(grep -c '^usine: usine_gemm f32' "$dir/stderr")
f64=$(grep -c '^usine: usine_gemm f64' "$dir/stderr")
echo "usine GEMM calls logged: f32 $f32, f64 $f64"
grep '^usine: usine_gemm ' "$dir/stderr" | head -n 2
[ $status -eq 0 ] || fail "python exited with status $status"
[ "$f32" -gt 0 ] || fail "no float32 matmul went through usine (numpy did not call cblas_sgemm?)"
[ "$f64" -gt 0 ] || fail "no float64 matmul went through usine (numpy did not call cblas_dgemm?)"
echo "PASS: numpy matmul through $(basename "$lib")"
exit 0
