#!/bin/sh
# Tests of the `usine` command: exit status and the headings a user relies on.
# usage: cli_test.sh PATH_TO_USINE CHECK   (CHECK: help, version, info, info-json,
# bench-smoke, bench-lowp, bench-attention, bad-usage). Exit 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
set -u
usine=$1
check=$2
out=${TMPDIR:-/tmp}/usine_cli_test.$$
trap 'rm -f "$out" "$out.json" "$out.csv" "$out.txt"' EXIT

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
        "flop/B" "64x64x64" "48x33x40 TN" "b1 h4/2 s64 d32 causal" "n1 c8 16x16 k16 3x3/1" "benchmarked in f32 and bf16 only" \
        "geometric mean" "0 mismatches"
    [ -s "$out.csv" ] || fail "no CSV written"
    head -n 1 "$out.csv" | grep -q "^cpu_model,isa," || fail "the CSV has no header"
    valid_json "$out.json"
    ;;
bench-rounds)
    # Two rounds: every library measured twice in turn, one row each, the count in the JSON.
    run 0 bench --shapes smoke --dtypes f32 --peers openblas --reps 1 --time 0.01 --threads 1 \
        --no-peak --rounds 2 --json "$out.json"
    expect "2 rounds, the libraries in turn" "64x64x64" "0 mismatches"
    valid_json "$out.json"
    python3 - "$out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["options"]["rounds"] == 2, d["options"]
keys = [(r["case"], r["threads"], r["library"]) for r in d["results"]]
assert keys and len(keys) == len(set(keys)), keys
PY
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
bench-attention)
    # Attention lines (issue 7) against the unfused baseline (OpenBLAS sgemm, a softmax,
    # sgemm) on tiny shapes: grouped heads, causal with a window, seq_q != seq_k, bf16.
    cat >"$out.txt" <<'TXT'
# attention: tiny lines
attention f32 batch=2 heads=4 kv_heads=2 seq=48 head_dim=32 causal=1    # grouped, causal
attention f32 batch=1 heads=2 kv_heads=1 seq_q=20 seq_k=70 head_dim=16 causal=1 window=24
attention f32 batch=1 heads=2 seq_q=40 seq_k=24 head_dim=16 causal=1    # first rows see no key
attention bf16 batch=1 heads=2 kv_heads=2 seq=40 head_dim=64           # bf16 inputs
attention f32 batch=2 heads=4 kv_heads=2 seq=48 head_dim=32 causal=1 backward=1   # its backward
attention bf16 batch=1 heads=2 kv_heads=1 seq_q=20 seq_k=70 head_dim=16 causal=1 window=24 backward=1
TXT
    run 0 bench --shapes "$out.txt" --peers openblas --reps 1 --time 0.01 --threads 1,2 \
        --no-peak --json "$out.json"
    expect "unfused" "b2 h4/2 s48 d32 causal" "b1 h2/1 s20/70 d16 window" "scores" \
        "b2 h4/2 s48 d32 causal bwd" "b1 h2/1 s20/70 d16 window bwd" "0 mismatches"
    valid_json "$out.json"
    python3 - "$out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
att = {c["id"]: c for c in d["cases"] if c["op"] == "attention"}
assert len(att) == 6 and all(c["runs"] for c in att.values()), att
assert sum(c["shape"]["backward"] for c in att.values()) == 2, att
rows = [r for r in d["results"] if r["case"] in att]
usine = [r for r in rows if r["library"] == "usine"]
base = [r for r in rows if r["library"] == "unfused (OpenBLAS)"]
assert len(usine) == 12 and len(base) == 12, rows
assert all(r["status"] == "ok" and r["gflops_median"] > 0 for r in usine), usine
sh = lambda r: att[r["case"]]["shape"]
assert all(r["scores_bytes"] == sh(r)["seq_q"] * sh(r)["seq_k"] * 4 * (2 if sh(r)["backward"] else 1) for r in rows)
assert all(r["kernel"] == ("usine_attention_backward" if sh(r)["backward"] else "usine_attention_forward") for r in usine), usine
skipped = [r for r in base if r["status"] != "ok"]
if skipped:
    print("SKIP: the unfused baseline did not run:", skipped[0]["message"])
    sys.exit(77)
assert all(r["match"] is True and r["max_rel_diff_vs_usine"] <= r["tolerance"] for r in base), base
ratios = [x for x in d["ratios"] if x.get("op") == "attention"]
for p in ("forward", "backward"):
    assert {x["dtype"] for x in ratios if x["pass"] == p} == {"f32", "bf16"}, ratios
print("usine / unfused:", [(x["dtype"], x["threads"], round(x["geomean"], 2)) for x in ratios])
print("max differences:", [round(r["max_rel_diff_vs_usine"], 9) for r in base])
PY
    rc=$?
    [ $rc -eq 77 ] && exit 77
    [ $rc -eq 0 ] || fail "the attention rows are not what they should be"
    expect "attention: usine / unfused" "attention backward: usine / unfused"
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
    run 2 bench --rounds 0
    expect "--rounds '0'" "[1, 20]"
    run 2 bench --rounds 21
    expect "--rounds '21'"
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
