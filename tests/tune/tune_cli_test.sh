#!/bin/sh
# `usine tune` end to end: tuning writes the database, --verify compares tuned and model
# choices, --export/--import/--clear manage entries, and with MPI two ranks share the
# classes and rank 0 writes one merged database.
# Usage: tune_cli_test.sh USINE local|mpi [MPIEXEC]
set -eu
usine=$1
mode=$2
mpiexec=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shapes=$work/shapes.txt
printf '# two small classes\n96 80 64\ngemm f32 300 40 120\n' >"$shapes"
entries() { grep -c '^E' "$1" || true; }

if [ "$mode" = mpi ]; then
    if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
        echo "SKIP: no mpiexec in this build"
        exit 77
    fi
    echo "== mpi, 2 ranks"
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpiexec" -n 2 --oversubscribe \
        "$usine" tune --mpi --ops gemm --db "$work/mpi.db" --shapes "$shapes" --dtypes f32 --threads 1 \
        --budget 2
    [ "$(entries "$work/mpi.db")" -eq 2 ] ||
        { echo "FAIL: the merged database lacks a rank's class"; exit 1; }
    echo "tune CLI test (mpi): ok"
    exit 0
fi

echo "== tune"
"$usine" tune --ops gemm --db "$work/tune.db" --shapes "$shapes" --dtypes f32 --threads 1 --budget 3
[ "$(entries "$work/tune.db")" -eq 2 ] || { echo "FAIL: expected 2 entries"; exit 1; }
head -n 1 "$work/tune.db" | grep -q '^# usine-tune-db 1$' || { echo "FAIL: header"; exit 1; }

echo "== verify"
"$usine" tune --db "$work/tune.db" --shapes "$shapes" --dtypes f32 --threads 1 --verify \
    >"$work/verify.txt" || { cat "$work/verify.txt"; echo "FAIL: --verify failed"; exit 1; }
cat "$work/verify.txt"
grep -q 'geometric-mean gain' "$work/verify.txt" || { echo "FAIL: no summary"; exit 1; }

echo "== low-precision families (the best kernel of each for this CPU, bf16 and int8 keys)"
printf 'gemm bf16 64 48 40\ngemm int8 64 48 40\n' >"$work/lowp.txt"
"$usine" tune --ops gemm --db "$work/lowp.db" --shapes "$work/lowp.txt" --dtypes bf16,int8 --threads 1 \
    --budget 2
grep -q "	bf16	t1	" "$work/lowp.db" || { echo "FAIL: no bf16 entry"; exit 1; }
grep -q "	int8	t1	.*u8s8gemm" "$work/lowp.db" || { echo "FAIL: no int8 entry"; exit 1; }

echo "== attention: one block entry per op, dtype and class, keyed t1"
"$usine" tune --ops attention --db "$work/attn.db" --dtypes f32 --threads 2 --budget 1
[ "$(entries "$work/attn.db")" -eq 8 ] || { echo "FAIL: expected 8 attention entries"; exit 1; }
[ "$(grep -c '	attn_fwd	f32	t1	.*	block=[0-9]*	' "$work/attn.db")" -eq 4 ] ||
    { echo "FAIL: attn_fwd entries"; exit 1; }
[ "$(grep -c '	attn_bwd	f32	t1	.*	block=[0-9]*	' "$work/attn.db")" -eq 4 ] ||
    { echo "FAIL: attn_bwd entries"; exit 1; }
USINE_TUNE_DB="$work/attn.db" "$usine" info | grep -q 'f32 .*usine_attn_fwd.*(rule: exact tuned entry)' ||
    { echo "FAIL: usine info does not use the attention entry"; exit 1; }

echo "== export, clear, import"
"$usine" tune --db "$work/tune.db" --export "$work/export.db"
[ "$(entries "$work/export.db")" -eq 2 ] || { echo "FAIL: export"; exit 1; }
"$usine" tune --db "$work/tune.db" --clear
[ "$(entries "$work/tune.db")" -eq 0 ] || { echo "FAIL: clear"; exit 1; }
"$usine" tune --db "$work/tune.db" --import "$work/export.db"
[ "$(entries "$work/tune.db")" -eq 2 ] || { echo "FAIL: import"; exit 1; }

echo "== bad usage"
if "$usine" tune --budget -1 2>/dev/null; then echo "FAIL: negative budget accepted"; exit 1; fi
if "$usine" tune --ops fft 2>/dev/null; then echo "FAIL: unknown op accepted"; exit 1; fi

echo "== 4 tuners at once into one database"
for i in 1 2 3 4; do
    echo "$((64 * i)) $((48 * i)) 32" >"$work/one$i.txt"
    "$usine" tune --ops gemm --db "$work/shared.db" --shapes "$work/one$i.txt" --dtypes f32 --threads 1 \
        --budget 1 >"$work/tuner$i.log" 2>&1 &
done
wait
[ "$(entries "$work/shared.db")" -eq 4 ] || { echo "FAIL: concurrent tuners lost entries"; exit 1; }
head -n 1 "$work/shared.db" | grep -q '^# usine-tune-db 1$' || { echo "FAIL: header"; exit 1; }
echo "tune CLI test: ok"
