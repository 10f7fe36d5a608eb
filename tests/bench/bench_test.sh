#!/bin/sh
# Tests of the benchmark deliverable: the JSON against its schema, the suites and shape
# files (DeepBench's lists included), the HTML report in a real headless browser, the
# cluster mode under mpirun with 2 ranks.
# usage: bench_test.sh PATH_TO_USINE SOURCE_DIR CHECK
#   CHECK: schema, suites, report, mpi
# Exit 0 pass, 1 fail, 77 skipped (said, with the reason).
set -u
usine=$1
src=$2
check=$3
here=$src/tests/bench
schema=$src/bench/schema/usine-bench-1.schema.json
work=$(mktemp -d "${TMPDIR:-/tmp}/usine_bench_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=$work/out

# fail, run, expect
. "$(dirname "$0")/../common/cli_helpers.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}

# A python3 that has jsonschema: the one on PATH, else Debian's.
python_with_jsonschema() {
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import jsonschema' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
}

# A smoke run, fast: one repetition, no peers unless asked.
smoke() {
    run 0 bench smoke --reps 1 --time 0.01 --threads 1,2 "$@"
}

validate() {
    py=$(python_with_jsonschema)
    [ -n "$py" ] || skip "python3-jsonschema is not installed (scripts/setup.sh installs it)"
    "$py" "$here/validate.py" "$schema" "$@"
}

# ------------------------------------------------------------------ schema
# Real output validates; broken copies of it do not (the validator is not a rubber stamp).
check_schema() {
    smoke --json "$work/a.json" --csv "$work/a.csv"
    validate "$work/a.json" || fail "the bench JSON does not validate"
    py=$(python_with_jsonschema)
    "$py" - "$work/a.json" "$work" <<'PY' || fail "cannot write the broken copies"
import json, sys
doc = json.load(open(sys.argv[1]))
def broken(name, change):
    d = json.loads(json.dumps(doc)); change(d)
    json.dump(d, open(f"{sys.argv[2]}/broken_{name}.json", "w"))
broken("no_fingerprint", lambda d: d.pop("fingerprint"))
broken("gflops_string", lambda d: [r.update(gflops_median="fast") for r in d["results"] if r["status"] == "ok"])
broken("not_built_silent", lambda d: [c.update(not_built=None) for c in d["cases"] if not c["runs"]])
broken("bad_version", lambda d: d.update(schema_version=2))
broken("no_results", lambda d: d.pop("results"))
PY
    # bf16 and int8 rows (issue 6): measured, each peer's cell either measured or skipped
    # with its reason, oneDNN's checked against usine's C, bf16/int8 peaks with a method.
    "$py" - "$work/a.json" <<'PY' || fail "the bf16 and int8 rows are not what they should be"
import json, sys
d = json.load(open(sys.argv[1]))
lowp = {c["id"]: c["dtype"] for c in d["cases"] if c["dtype"] in ("bf16", "int8")}
assert set(lowp.values()) == {"bf16", "int8"} and all(d["cases"][i]["runs"] for i in lowp), lowp
rows = [r for r in d["results"] if r["case"] in lowp]
for r in rows:
    assert r["status"] in ("ok", "skipped"), r
    assert r["status"] == "ok" or r["message"], r
ok = {(r["case"], r["threads"]): r for r in rows if r["library"] == "usine" and r["status"] == "ok"}
for r in rows:
    if r["library"] == "oneDNN" and r["status"] == "ok" and (r["case"], r["threads"]) in ok:
        assert r["match"] is True, r
        if lowp[r["case"]] == "int8":
            assert r["tolerance"] == 0 and r["max_rel_diff_vs_usine"] == 0, r
att = [c["id"] for c in d["cases"] if c["op"] == "attention"]
arows = [r for r in d["results"] if r["case"] in att]
assert att and all(r["library"] in ("usine", "unfused (OpenBLAS)") for r in arows), arows
assert all(r["status"] == "ok" or r["message"] for r in arows), arows
assert all(r.get("match", True) is True for r in arows), arows
# conv rows (issue 8): every pass measured; the peers are oneDNN's convolution and im2col +
# OpenBLAS, each measured or skipped with its reason, each checked against usine's output;
# oneDNN names its implementation; the ratios come per pass.
conv = {c["id"]: c for c in d["cases"] if c["op"] == "conv"}
crows = [r for r in d["results"] if r["case"] in conv]
passes = {c["shape"]["pass"] for c in conv.values()}
assert passes == {"forward", "backward_data", "backward_weights"}, passes
assert all(c["runs"] for c in conv.values()), conv
assert {r["library"] for r in crows} == {"usine", "oneDNN", "im2col (OpenBLAS)"}, crows
assert all(r["status"] == "ok" or r["message"] for r in crows), crows
cok = {(r["case"], r["threads"]) for r in crows if r["library"] == "usine" and r["status"] == "ok"}
assert len(cok) == 2 * len(conv), "usine did not measure every conv row"
peers = [r for r in crows if r["library"] != "usine" and r["status"] == "ok"]
assert peers and all(r["match"] is True for r in peers if (r["case"], r["threads"]) in cok), peers
assert all(r["kernel"].startswith("usine_conv_") for r in crows if r["library"] == "usine"), crows
assert all(r["kernel"] for r in peers), peers
cratios = {r["pass"] for r in d["ratios"] if r.get("op") == "conv"}
assert cratios == passes, cratios
peaks = {p["dtype"] for p in d["peak"]["compute"]} | {p["dtype"] for p in d["peak"]["not_measured"]}
assert {"bf16", "int8"} <= peaks, peaks
print(f"{len(rows)} bf16/int8 results:", sorted({(lowp[r['case']], r['library'], r['status']) for r in rows}))
PY
    for b in no_fingerprint gflops_string not_built_silent bad_version no_results; do
        if validate "$work/broken_$b.json" >"$work/v.txt" 2>&1; then
            cat "$work/v.txt"
            fail "a broken file ($b) validated"
        fi
        echo "broken_$b.json rejected, as it must be"
    done
    # The CSV: a header and the same number of fields on every line.
    "$py" - "$work/a.csv" <<'PY' || fail "the CSV is malformed"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0][:2] == ["cpu_model", "isa"], rows[0]
assert len(rows) > 5 and len({len(r) for r in rows}) == 1, {len(r) for r in rows}
assert any(r[rows[0].index("status")] == "not_built" for r in rows[1:])
print(f"{sys.argv[1]}: {len(rows) - 1} rows of {len(rows[0])} fields")
PY
}

# ------------------------------------------------------------------ suites
check_suites() {
    for s in quick gemm transformer resnet50 smoke; do
        run 0 bench "$s" --list
        expect "suite '$s'" "cases run"
    done
    run 0 bench transformer --list
    expect "Llama-2-7B" "Llama-3-8B" "Mistral-7B" "b1 h32/8 s8192 d128 window" \
        "b1 h8/8 s4096 d128 causal bwd"
    grep -E "^[0-9]+ +attention .* runs " "$out" >/dev/null || fail "attention lines do not run"
    run 0 bench resnet50 --list
    expect "48 cases run" "0 not built yet" "n32 c3 224x224 k64 7x7/2"
    # DeepBench's lists, read where they are (never copied into the repository).
    deepbench=$src/../shared/data/deepbench
    [ -d "$deepbench" ] || deepbench=/work/shared/data/deepbench
    if [ -d "$deepbench" ]; then
        run 0 bench --shapes "$deepbench/gemm_training.txt" --list
        expect "160 cases run" "TN"
        run 0 bench --shapes "$deepbench/conv_training.txt" --list
        expect "94 cases run" "0 not built yet" "n4 c1 161x700 k32 5x20/2"
        run 0 bench --shapes "$deepbench/conv_training.txt" --list --conv-passes all
        expect "282 cases run" "n4 c1 161x700 k32 5x20/2 bwd_d" "n4 c1 161x700 k32 5x20/2 bwd_w"
        run 0 bench --shapes "$deepbench/gemm_inference_device.txt" --list
        expect "13 cases run"
    else
        echo "NOTE: no shared/data/deepbench here: the DeepBench lists are not checked"
    fi
    # A shape file of one's own, in both formats, runs.
    cat >"$work/mine.txt" <<'TXT'
# mine: a user's file
group mine
gemm f32 m=40 n=30 k=20 trans=NT   # my layer
64 8 32 N N
attention f32 heads=2 seq=16 head_dim=16
attention f16 heads=2 seq=16 head_dim=16
TXT
    run 0 bench --shapes "$work/mine.txt" --reps 1 --time 0.01 --peers openblas --threads 1 \
        --no-peak
    expect "40x30x20 NT" "64x8x32" "b1 h2/2 s16 d16" "attention is benchmarked in f32 and bf16 only" \
        "0 mismatches"
    # Conv lines of one's own: every pass, groups, dilation, bf16, a DeepBench line in all
    # passes; usine against oneDNN and im2col + OpenBLAS, results matching.
    cat >"$work/conv.txt" <<'TXT'
# conv: a user's file
group convs
conv f32 n=2 c=6 h=9 w=8 k=4 r=3 s=2 stride=2 pad=1 dilation=2 groups=2   # grouped
conv f32 n=1 c=8 h=7 w=7 k=8 r=3 s=3 pad=1 groups=8 pass=bwd_data         # depthwise
conv bf16 n=1 c=5 h=6 w=6 k=7 r=3 s=3 pass=bwd_weights                    # bf16
12 10 3 2 4 3 3 1 1 1 1
TXT
    run 0 bench --shapes "$work/conv.txt" --reps 1 --time 0.01 --threads 1 --no-peak \
        --conv-passes all --peers openblas,onednn --json "$work/conv.json"
    expect "n2 c6 9x8 k4 3x2/2 g2" "n1 c8 7x7 k8 3x3/1 dw bwd_d" \
        "n1 c5 6x6 k7 3x3/1 bwd_w" "n2 c3 10x12 k4 3x3/1 bwd_w" "im2col" \
        "conv backward weights: usine / best of oneDNN and im2col" "0 failed, 0 mismatches"
    python3 - "$work/conv.json" <<'PY' || fail "the conv rows are not what they should be"
import json, sys
d = json.load(open(sys.argv[1]))
rows = [r for r in d["results"] if d["cases"][r["case"]]["op"] == "conv"]
assert len(d["cases"]) == 12, len(d["cases"])
assert all(r["status"] == "ok" for r in rows if r["library"] != "oneDNN"), rows
assert all(r.get("match", True) for r in rows), rows
print(f"{len(rows)} conv results, libraries", sorted({(r['library'], r['status']) for r in rows}))
PY
    printf 'conv f32 n=1 c=4 h=5 w=5 k=4 r=3 s=3 pass=sideways\n' >"$work/bad.txt"
    run 2 bench --shapes "$work/bad.txt" --list
    expect "bad.txt:1: pass=sideways: expected fwd, bwd_data or bwd_weights"
    run 2 bench smoke --conv-passes sideways --list
    expect "--conv-passes 'sideways'"
    # Bad files fail with the file and line.
    printf 'gemm f32 m=4 n=4\n' >"$work/bad.txt"
    run 2 bench --shapes "$work/bad.txt" --list
    expect "bad.txt:1: missing k="
    printf 'gemm f32 m=4 n=4 k=4 colour=blue\n' >"$work/bad.txt"
    run 2 bench --shapes "$work/bad.txt" --list
    expect "bad.txt:1: unknown key 'colour'"
    run 2 bench nosuchsuite
    expect "unknown suite 'nosuchsuite'"
}

# ------------------------------------------------------------------ report
chromium_bin() {
    for b in chromium chromium-browser google-chrome; do
        if command -v "$b" >/dev/null 2>&1; then
            echo "$b"
            return
        fi
    done
}

# screenshot HTML PNG: headless chromium, no network, a fresh profile.
screenshot() {
    rm -rf "$work/profile"
    mkdir -p "$work/profile"
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --force-color-profile=srgb --hide-scrollbars --user-data-dir="$work/profile" \
        --screenshot="$2" --window-size=1400,1500 "file://$1" >"$work/chromium.log" 2>&1
    [ -s "$2" ] || {
        cat "$work/chromium.log"
        fail "chromium wrote no screenshot of $1"
    }
}

check_report() {
    browser=$(chromium_bin)
    [ -n "$browser" ] || skip "chromium is not installed (scripts/setup.sh installs it)"
    command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
    smoke --json "$work/a.json" --peers all
    smoke --json "$work/b.json" --peers openblas
    run 0 report "$work/a.json" "$work/b.json" -o "$work/r.html"
    expect "machine 2 / machine 1: usine" "shared cases"
    grep -q '<svg class="chart roofline"' "$work/r.html" || fail "no roofline chart"
    grep -q '<svg class="chart compare"' "$work/r.html" || fail "no side-by-side chart"
    # Self-contained: nothing fetched (the SVG namespace is a name, not a fetch).
    if grep -v 'xmlns=' "$work/r.html" | grep -E -q 'src=|href=|@import|url\('; then
        fail "the report refers to outside resources"
    fi
    screenshot "$work/r.html" "$work/r.png"
    python3 "$here/png_check.py" "$work/r.png" || fail "the charts did not render"
    # Negative: the same page with its charts emptied must fail the check.
    python3 - "$work/r.html" "$work/empty.html" <<'PY' || fail "cannot empty the charts"
import re, sys
html = open(sys.argv[1]).read()
empty = re.sub(r'<(rect|circle|polyline)\b[^>]*class="mark".*?(?:/>|</\1>)', "", html, flags=re.S)
assert empty != html
open(sys.argv[2], "w").write(empty)
PY
    screenshot "$work/empty.html" "$work/empty.png"
    if python3 "$here/png_check.py" "$work/empty.png"; then
        fail "the check passed a page whose charts are empty"
    fi
    echo "the emptied page fails the check, as it must"
    run 1 report "$work/nonexistent.json"
    expect "cannot read"
    run 2 report
}

# ------------------------------------------------------------------ mpi
check_mpi() {
    command -v mpirun >/dev/null 2>&1 || skip "mpirun is not installed: the MPI mode is not tested"
    "$usine" bench --help | grep -q "not in this build" && skip "usine was built without MPI"
    # Root in CI; 2 ranks on a 2-core machine; ranks take the whole node (no binding).
    echo "+ mpirun -n 2 usine bench --mpi smoke"
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        mpirun --oversubscribe --bind-to none -n 2 "$usine" bench --mpi smoke --reps 1 \
        --time 0.01 --peers openblas --json "$work/cluster.json" --csv "$work/cluster.csv" \
        >"$out" 2>&1 || fail "mpirun exited with $?"
    expect "Cluster: 2 ranks" "one after another" "flagged (same fingerprint"
    if grep -q -i "fork()" "$out"; then
        fail "Open MPI warned about fork"
    fi
    validate "$work/cluster.json" || fail "the cluster JSON does not validate"
    python3 - "$work/cluster.json" <<'PY' || fail "the cluster JSON is not what it should be"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "usine-bench-cluster" and d["mpi"]["ranks"] == 2
assert len(d["nodes"]) == 2 and len(d["comparison"]) == 2
ranks = sorted(n["isolation"]["mpi"]["rank"] for n in d["nodes"])
assert ranks == [0, 1], ranks
assert all(c["same_fingerprint_nodes"] == 1 for c in d["comparison"])
print("cluster JSON: 2 nodes, verdicts", [(c["rank"], round(c["score"], 3), c["flagged"]) for c in d["comparison"]])
PY
    run 0 report "$work/cluster.json" -o "$work/cluster.html"
    grep -q "Cluster: nodes of one fingerprint" "$work/cluster.html" || fail "no cluster table"
}

case $check in
schema) check_schema ;;
suites) check_suites ;;
report) check_report ;;
mpi) check_mpi ;;
*)
    echo "bench_test.sh: unknown check '$check'"
    exit 1
    ;;
esac
echo "PASS: $check"
