#!/bin/sh
# Tests of the `usine` command: exit status and the headings a user relies on.
# usage: cli_test.sh PATH_TO_USINE CHECK   (CHECK: help, version, info, info-json,
# bench-smoke, bench-lowp, bad-usage). Exit 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
set -u
usine=$1
check=$2
out=${TMPDIR:-/tmp}/usine_cli_test.$$
trap 'rm -f "$out" "$out.json" "$out.csv"' EXIT

# fail, run, expect
. "$(dirname "$0")/../common/cli_helpers.sh"

# valid_json FILE: parses with python3 when there is one (77 otherwise: said, not passed).
valid_json() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "SKIP: python3 not found, cannot check that the JSON parses"
        exit 77
    fi
    python3 -m json.tool "$1" >/dev/null || fail "$1 is not valid JSON"
}

case $check in
help)
    run 0 --help
    expect "usage: usine" "info" "bench" "report"
    run 0 help bench
    expect "usage: usine bench" "--shapes" "--threads" "--json" "--mpi" "--list" "quick"
    run 0 help report
    expect "usage: usine report" "--output"
    run 0 info --help
    expect "usage: usine info"
    ;;
version)
    run 0 --version
    expect "usine 0."
    ;;
info)
    run 0 info
    expect "usine " "CPU:" "ISA:" "Topology:" "L1d" "L2" "L3" "Threads:" "GEMM:" "f32" \
        "f64" "Kernels:" "rule:"
    ;;
info-json)
    run 0 info --json
    expect '"machine"' '"isa_detected"' '"kernels"' '"topology_source"'
    valid_json "$out"
    ;;
bench-smoke)
    run 0 bench gemm --shapes smoke --reps 1 --time 0.01 --json "$out.json" --csv "$out.csv"
    expect "benchmark, suite 'smoke'" "Peak:" "Memory:" "shape (MxNxK)" "usine/best" "%peak" \
        "flop/B" "64x64x64" "48x33x40 TN" "not built yet (issue 7)" "geometric mean" \
        "0 mismatches"
    [ -s "$out.csv" ] || fail "no CSV written"
    head -n 1 "$out.csv" | grep -q "^cpu_model,isa," || fail "the CSV has no header"
    valid_json "$out.json"
    ;;
bench-lowp)
    # bf16 and int8 lines are measured: usine's cell and oneDNN's (its matmul primitive)
    # each hold a number or a visible reason, and the summary compares them.
    run 0 bench smoke --dtypes bf16,int8 --peers onednn --reps 1 --time 0.01 --threads 1 \
        --json "$out.json"
    expect "40x36x70" "bf16" "int8" "oneDNN" "usine / oneDNN matmul" "0 mismatches"
    grep -E "^40x36x70 +bf16 +1 +([0-9.]+|-) .* ([0-9.]+|-) +(oneDNN|-)" "$out" >/dev/null ||
        fail "no bf16 row with usine and oneDNN cells"
    valid_json "$out.json"
    python3 - "$out.json" <<'PY' || fail "the bf16 row has neither a oneDNN number nor a reason"
import json, sys
d = json.load(open(sys.argv[1]))
bf16 = [c["id"] for c in d["cases"] if c["dtype"] == "bf16"]
cells = [r for r in d["results"] if r["case"] in bf16 and r["library"] == "oneDNN"]
assert cells and all(r["status"] == "ok" or r["message"] for r in cells), cells
print("oneDNN bf16:", [(r["status"], r.get("gflops_median"), r["message"]) for r in cells])
PY
    ;;
bad-usage)
    run 2 frobnicate
    expect "unknown command 'frobnicate'"
    run 2 --frobnicate
    expect "unknown option '--frobnicate'"
    run 2 info --frobnicate
    expect "unknown option '--frobnicate'"
    run 2 bench --frobnicate
    expect "unknown option '--frobnicate'"
    run 2 bench --reps 0
    expect "--reps '0'"
    run 2 bench --dtypes f16
    expect "--dtypes 'f16'" "bf16, int8"
    run 2 bench --shapes huge
    expect "unknown suite 'huge'"
    run 2 bench --threads
    expect "needs a value"
    run 2 bench conv
    expect "unknown suite 'conv'"
    run 2 bench quick extra
    expect "unexpected 'extra'"
    run 2 report --frobnicate
    expect "unknown option '--frobnicate'"
    ;;
*)
    echo "cli_test.sh: unknown check '$check'"
    exit 1
    ;;
esac
echo "PASS: $check"
