#!/bin/sh
# The checks that need a GPU, as one script for a lent GPU machine (no package registry:
# hwloc, PAPI, MPI and cJSON off). Uses the build in BUILD (default devbuild: cli/usine,
# libusine.so*, tests/cuda/test_cuda_*) when it runs on this machine, else builds one, then
# runs, each under a time limit:
#   1. tests/cuda test_cuda_gemm (GPU against a long double CPU reference, every kernel
#      forced, the sm_90a ones included); test_cuda_attention (step attention: forward on the
#      library's choice and, on cc 9.0, on the sm_80 kernels forced too; backward);
#   2. usine bench smoke's GPU lines (square and transformer-suite bf16 GEMMs and attention
#      against cuBLAS), with the default kernel choice and with each sm_90a tile forced;
#   3. compute-sanitizer memcheck and racecheck over test_cuda_gemm (SANITIZER_TEST=attention:
#      over test_cuda_attention's forward cases);
#   4. Nsight Compute's speed of light and warp states of the sm_90a GEMM kernels (profile);
#   5. the GEMM lines (squares, transformer suite) for every sm_90a tile forced with each
#      USINE_CUDA_SPLIT_K in SWEEP_SPLITS (default 1 2 4), timed SWEEP_TIME (default 0.15 s)
#      a line (gemmsweep: the data for the choice of tile and split; $OUT/gemmsweep.txt has
#      variant, shape, usine ms and the ratio to cuBLAS; 15 runs, a few minutes).
# Logs go to $OUT (default /tmp/usine-device); a short summary is printed last.
# Usage: sh tests/cuda/device_run.sh [STEPS]
#   STEPS: comma list of test,attention,bench,memcheck,racecheck,profile,gemmsweep (default
#     test,bench,memcheck);
#   BENCH_KERNELS: the bench runs' USINE_CUDA_KERNEL values ("default": the library's choice);
#   BENCH_TIME: the bench's --time (default 0.4); TEST_TIMEOUT: the test's (default 330 s:
#     the whole test took about 250 s on an H100, 2026-11-27, and ran out of 180 s);
#   SANITIZER_ONLY: USINE_TEST_CUDA_ONLY for the compute-sanitizer runs (sm90: the sm_90a
#     bf16 cases alone, sm90_c2: those of the cluster entries, split: the split-k cases;
#     default: the whole test; forward with SANITIZER_TEST=attention);
#   PROFILE_KERNELS: the registry names Nsight Compute profiles (default: both sm_90a bf16
#     row-major tiles, blocks alone).
set -u
steps=${1:-test,bench,memcheck}
out=${OUT:-/tmp/usine-device}
build=${BUILD:-devbuild}
mkdir -p "$out"
has() { case ",$steps," in *",$1,"*) return 0 ;; esac; return 1; }

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,memory.used \
    --format=csv

runs_here() { # $1: a build tree
    [ -x "$1/tests/cuda/test_cuda_gemm" ] && "$1/cli/usine" info >/dev/null 2>&1 &&
        ! LD_LIBRARY_PATH=$1 ldd "$1/tests/cuda/test_cuda_gemm" | grep -q 'not found'
}
if ! runs_here "$build"; then
    echo "no build in $build that runs here: building (hwloc, PAPI, MPI, cJSON off; sm_90a)"
    build=/tmp/usine-build
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DUSINE_WITH_HWLOC=OFF \
        -DUSINE_WITH_PAPI=OFF -DUSINE_WITH_MPI=OFF -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON \
        -DUSINE_WITH_CUDA=ON -DUSINE_CUDA_ARCHITECTURES=90a-real \
        >"$out/configure.log" 2>&1 &&
        cmake --build "$build" -j "$(nproc)" --target usine_cli test_cuda_gemm \
            test_cuda_attention >"$out/build.log" 2>&1 || {
        tail -40 "$out/build.log" "$out/configure.log"
        exit 1
    }
fi
# The test programs link libusine.so (their RPATH names the build machine's tree).
export LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
summary=$out/summary.txt
: >"$summary"

if has test; then
    start=$(date +%s)
    timeout "${TEST_TIMEOUT:-330}" stdbuf -oL "$build/tests/cuda/test_cuda_gemm" >"$out/test_cuda_gemm.log" 2>&1
    rc=$?
    {
        echo "test_cuda_gemm: exit $rc in $(($(date +%s) - start)) s"
        grep -E "FAIL" "$out/test_cuda_gemm.log" | head -12
        echo "log lines: $(grep -c "" "$out/test_cuda_gemm.log")"
        tail -3 "$out/test_cuda_gemm.log" | cut -c1-400
    } >>"$summary"
    if [ "$rc" = 124 ]; then # a hang: the other steps would hang too
        cat "$summary"
        exit 1
    fi
fi

if has attention; then
    start=$(date +%s)
    timeout "${TEST_TIMEOUT:-330}" stdbuf -oL "$build/tests/cuda/test_cuda_attention" \
        >"$out/test_cuda_attention.log" 2>&1
    rc=$?
    {
        echo "test_cuda_attention: exit $rc in $(($(date +%s) - start)) s"
        grep -E "FAIL" "$out/test_cuda_attention.log" | head -12 | cut -c1-400
        tail -3 "$out/test_cuda_attention.log" | cut -c1-400
    } >>"$summary"
    if [ "$rc" = 124 ]; then # a hang: the bench would hang too
        cat "$summary"
        exit 1
    fi
fi

if has bench; then
    for kernel in ${BENCH_KERNELS:-default usine_gemm_cuda_sm90a_bf16_128x256x64_s4_ak_bn \
        usine_gemm_cuda_sm90a_bf16_128x128x64_s6_c2_ak_bn \
        usine_gemm_cuda_sm90a_bf16_64x256x64_s5_ak_bn}; do
        log=$out/bench_$kernel.log
        if [ "$kernel" = default ]; then
            timeout 120 "$build/cli/usine" bench smoke --peers none --no-peak \
                --time "${BENCH_TIME:-0.4}" >"$log" 2>&1
        else
            USINE_CUDA_KERNEL=$kernel timeout 120 "$build/cli/usine" bench smoke --peers none \
                --no-peak --time "${BENCH_TIME:-0.4}" >"$log" 2>&1
        fi
        echo "bench ($kernel): exit $?" >>"$summary"
        # The CUDA section of the table (a forced GEMM kernel: its GEMM lines only; a forced
        # attention kernel: its attention lines).
        awk -v all="$kernel" '/^CUDA lines/ { on = 1 }
            on && /^  / && (all == "default" || (all ~ /attn/ && /attn|not measured|child/) ||
                (all !~ /attn/ && /gemm|geometric|peer:|not measured|child/))' \
            "$log" >>"$summary"
    done
fi

for tool in memcheck racecheck; do
    if has $tool; then
        program=test_cuda_${SANITIZER_TEST:-gemm} only=${SANITIZER_ONLY:-}
        [ "$program" = test_cuda_attention ] && only=${SANITIZER_ONLY:-forward}
        USINE_TEST_CUDA_ONLY=$only timeout ${SANITIZER_TIMEOUT:-150} \
            compute-sanitizer --tool $tool "$build/tests/cuda/$program" >"$out/$tool.log" 2>&1
        echo "compute-sanitizer $tool ($program): exit $?" >>"$summary"
        grep -E "ERROR SUMMARY|RACECHECK SUMMARY|failures" "$out/$tool.log" | tail -3 >>"$summary"
    fi
done
# Nsight Compute on one launch (2048^3, the bench's first GEMM line) of each sm_90a bf16
# row-major kernel: speed of light, warp states, scheduler (clocks left as they are).
if has profile; then
    for kernel in ${PROFILE_KERNELS:-usine_gemm_cuda_sm90a_bf16_128x128x64_s6_ak_bn \
        usine_gemm_cuda_sm90a_bf16_128x256x64_s4_ak_bn}; do
        # The compiled function of an entry launched in clusters (_c2) has the plain name.
        function=$(printf '%s' "$kernel" | sed 's/_c[0-9]*_\(a[km]_b[kn]\)$/_\1/')
        USINE_CUDA_KERNEL=$kernel USINE_BENCH_GPU=1 timeout 75 ncu --clock-control none \
            --target-processes all --kernel-name "$function" --launch-skip 2 --launch-count 1 \
            --section SpeedOfLight --section WarpStateStats --section SchedulerStats \
            --section MemoryWorkloadAnalysis \
            "$build/cli/usine" bench smoke --peers none --no-peak >"$out/ncu_$kernel.log" 2>&1
        echo "ncu ($kernel): exit $?" >>"$summary"
        grep -E "Throughput|Duration|Issued Warp|No Eligible|Active Warps|Stall|Cycles Per|L2 Hit|Mem Busy|Max Bandwidth" \
            "$out/ncu_$kernel.log" | head -24 >>"$summary"
    done
fi
# Every sm_90a GEMM tile forced with each split count, GEMM lines only: usine ms per shape.
if has gemmsweep; then
    sweep=$out/gemmsweep.txt
    : >"$sweep"
    for kernel in ${SWEEP_KERNELS:-usine_gemm_cuda_sm90a_bf16_128x256x64_s4_ak_bn \
        usine_gemm_cuda_sm90a_bf16_128x256x64_s4_c2_ak_bn \
        usine_gemm_cuda_sm90a_bf16_128x128x64_s6_ak_bn \
        usine_gemm_cuda_sm90a_bf16_128x128x64_s6_c2_ak_bn \
        usine_gemm_cuda_sm90a_bf16_64x256x64_s5_ak_bn}; do
        for split in ${SWEEP_SPLITS:-1 2 4}; do
            USINE_CUDA_KERNEL=$kernel USINE_CUDA_SPLIT_K=$split USINE_BENCH_GPU=gemm \
                timeout 120 "$build/cli/usine" bench smoke --peers none --no-peak \
                --time "${SWEEP_TIME:-0.15}" >"$out/sweep.log" 2>&1
            awk -v v="$kernel split $split" '/^  gemm/ {
                for (i = 1; i < NF && $i != "bf16"; i++) ;
                print v, $(i - 1), "ms", $(i + 1), "ratio", $(i + 5)
            }' "$out/sweep.log" >>"$sweep"
        done
    done
    echo "gemmsweep: $(grep -c '' "$sweep") lines in gemmsweep.txt (variant, shape, usine ms, ratio to cuBLAS)" >>"$summary"
fi
cat "$summary"
