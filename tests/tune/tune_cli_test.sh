#!/bin/sh
# `usine tune` end to end: tuning writes the database, --verify compares tuned and model
# choices, --export/--import/--clear manage entries, and with MPI two ranks share the
# classes and rank 0 writes one merged database.
# Usage: tune_cli_test.sh USINE [MPIEXEC]
set -eu
usine=$1
mpiexec=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shapes=$work/shapes.txt
printf '# two small classes\n96 80 64\ngemm f32 300 40 120\n' >"$shapes"
entries() { grep -c '^E' "$1" || true; }

echo "== tune"
"$usine" tune --db "$work/tune.db" --shapes "$shapes" --dtypes f32 --threads 1 --budget 3
[ "$(entries "$work/tune.db")" -eq 2 ] || { echo "FAIL: expected 2 entries"; exit 1; }
head -n 1 "$work/tune.db" | grep -q '^# usine-tune-db 1$' || { echo "FAIL: header"; exit 1; }

echo "== verify"
"$usine" tune --db "$work/tune.db" --shapes "$shapes" --dtypes f32 --threads 1 --verify \
    >"$work/verify.txt"
cat "$work/verify.txt"
grep -q 'geometric-mean gain' "$work/verify.txt" || { echo "FAIL: no summary"; exit 1; }

echo "== export, clear, import"
"$usine" tune --db "$work/tune.db" --export "$work/export.db"
[ "$(entries "$work/export.db")" -eq 2 ] || { echo "FAIL: export"; exit 1; }
"$usine" tune --db "$work/tune.db" --clear
[ "$(entries "$work/tune.db")" -eq 0 ] || { echo "FAIL: clear"; exit 1; }
"$usine" tune --db "$work/tune.db" --import "$work/export.db"
[ "$(entries "$work/tune.db")" -eq 2 ] || { echo "FAIL: import"; exit 1; }

echo "== bad usage"
if "$usine" tune --budget -1 2>/dev/null; then echo "FAIL: negative budget accepted"; exit 1; fi
if "$usine" tune --ops conv 2>/dev/null; then echo "FAIL: unknown op accepted"; exit 1; fi

if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
    echo "SKIP: MPI part (no mpiexec in this build)"
    exit 0
fi
echo "== mpi, 2 ranks"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpiexec" -n 2 --oversubscribe \
    "$usine" tune --mpi --db "$work/mpi.db" --shapes "$shapes" --dtypes f32 --threads 1 --budget 2
[ "$(entries "$work/mpi.db")" -eq 2 ] || { echo "FAIL: the merged database lacks a rank's class"; exit 1; }
echo "tune CLI test: ok"
