#!/bin/sh
# What can be checked of the CUDA kernels without a GPU. For every kernel file under
# kernels/cuda and each of sm_80 and sm_90a: compile to PTX (nvcc, the build's language
# level and optimisation), assemble it with ptxas -v, and fail when
#   - ptxas warns (e.g. "wgmma serialized" performance warnings, or any other);
#   - a kernel spills, or has a stack frame (an array moved to local memory);
#   - a kernel uses more registers than its __launch_bounds__ intend
#     (65536 / (threads x min blocks), rounded down to 8, at most 255);
#   - static + dynamic shared memory exceeds the arch's per-block limit, or min-blocks
#     blocks of it (plus 1 KiB reserved each) do not fit in one SM, so the intended
#     occupancy cannot happen;
#   - a kernel's PTX lacks the tensor-core instructions it is meant to use (mma.sync m16n8k16
#     for arch 80 kernels, GEMM and attention, with ldmatrix, and cp.async for the vector-load
#     kernels;
#     wgmma.mma_async for arch 90 kernels): a kernel that silently fell back to slow code;
#   - the kernel table (cuda_kernel_table) and the compiled kernels disagree.
# Usage: ptxas_check.sh NVCC SOURCE_DIR CUDA_KERNEL_TABLE
set -eu
nvcc=$1
src=$2
table_prog=$3
ptxas=$(dirname "$nvcc")/ptxas
[ -x "$ptxas" ] || ptxas=ptxas
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$table_prog" >"$work/table" || { echo "FAIL: cuda_kernel_table failed"; exit 1; }
fail=0

# arch -> most shared memory a block may opt in to, and an SM's shared memory (bytes).
limits() {
    case $1 in
    80) echo "166912 167936" ;;  # A100: 163 KiB per block, 164 KiB per SM
    90a) echo "232448 233472" ;; # H100: 227 KiB per block, 228 KiB per SM
    esac
}

for arch in 80 90a; do
    set -- $(limits $arch)
    block_limit=$1
    sm_limit=$2
    : >"$work/report.$arch"
    for cu in $(find "$src/kernels/cuda" -name '*.cu' | sort); do
        base=$(basename "$cu" .cu)
        ptx=$work/$base.$arch.ptx
        "$nvcc" -std=c++17 -O3 -I"$src/include" -arch=compute_$arch -ptx "$cu" -o "$ptx"
        if ! "$ptxas" -arch=sm_$arch -v "$ptx" -o "$work/$base.$arch.cubin" \
            >"$work/$base.$arch.log" 2>&1; then
            cat "$work/$base.$arch.log"
            echo "FAIL: ptxas failed on $base for sm_$arch"
            exit 1
        fi
        if grep -qi 'warning' "$work/$base.$arch.log"; then
            grep -i 'warning' "$work/$base.$arch.log"
            echo "FAIL: ptxas warns on $base for sm_$arch"
            fail=1
        fi
        # One line per kernel: name stack spill_stores spill_loads registers static_smem.
        awk '
            /Compiling entry function/ { name = $0; sub(/.*function .\047?/, "", name);
                                         sub(/\047.*/, "", name); stack = st = ld = regs = smem = 0 }
            /bytes stack frame/ { stack = $1; st = $5; ld = $9 }
            /Used [0-9]+ registers/ {
                for (i = 1; i <= NF; i++) {
                    if ($(i + 1) ~ /^registers/) regs = $i
                    if ($(i + 1) == "bytes" && $(i + 2) ~ /^smem/) smem = $i
                }
                print name, stack, st, ld, regs, smem
            }' "$work/$base.$arch.log" >>"$work/report.$arch"
        # Split the PTX per entry, for the instruction checks below.
        awk -v dir="$work" -v arch="$arch" '
            /^\.visible \.entry|^\.entry/ { name = $0; sub(/.*\.entry[ \t]+/, "", name);
                                             sub(/\(.*/, "", name); out = dir "/" name "." arch ".entry" }
            out != "" { print > out }' "$ptx"
    done

    printf '%-52s %5s %5s %6s %6s %7s  %s\n' "kernel (sm_$arch)" regs max spill stack smem "occupancy"
    while read -r name karch threads blocks dyn; do
        # Entries that launch one kernel in clusters (name suffix _c2 before the operand
        # arrangement) share its compiled function.
        fn=$(printf '%s' "$name" | sed 's/_c[0-9]*_\(a[km]_b[kn]\)$/_\1/')
        line=$(grep "^$fn " "$work/report.$arch" || true)
        if [ -z "$line" ]; then
            echo "FAIL: $name is in the kernel table but ptxas compiled no such kernel for sm_$arch"
            fail=1
            continue
        fi
        # An sm_90a-only kernel (arch 90: wgmma, TMA) has an empty body in the sm_80 pass.
        if [ "$karch" -ge 90 ] && [ "$arch" = 80 ]; then
            continue
        fi
        set -- $line
        stack=$2 st=$3 ld=$4 regs=$5 smem=$6
        max=$((65536 / (threads * blocks) / 8 * 8))
        [ "$max" -gt 255 ] && max=255
        total=$((smem + dyn))
        printf '%-52s %5s %5s %6s %6s %7s  %s x %s threads\n' "$name" "$regs" "$max" \
            "$((st + ld))" "$stack" "$total" "$blocks" "$threads"
        if [ "$st" -ne 0 ] || [ "$ld" -ne 0 ] || [ "$stack" -ne 0 ]; then
            echo "FAIL: $name spills on sm_$arch ($st bytes stored, $ld loaded, $stack bytes stack)"
            fail=1
        fi
        if [ "$regs" -gt "$max" ]; then
            echo "FAIL: $name uses $regs registers on sm_$arch; __launch_bounds__ intend at most $max"
            fail=1
        fi
        if [ "$total" -gt "$block_limit" ]; then
            echo "FAIL: $name needs $total bytes of shared memory; sm_$arch allows $block_limit a block"
            fail=1
        fi
        if [ $((blocks * (total + 1024))) -gt "$sm_limit" ]; then
            echo "FAIL: $blocks blocks of $name ($total bytes each + 1 KiB reserved) exceed the $sm_limit bytes of an sm_$arch SM"
            fail=1
        fi
        entry=$work/$fn.$arch.entry
        need="mma.sync.aligned.m16n8k16 ldmatrix.sync.aligned"
        [ "$karch" -ge 90 ] && need="wgmma.mma_async"
        # The element-load kernels (no cp.async by design) are named *_scalar; the attention
        # backward's delta pass (a row-wise dot product, usine_attn_bwd_prep_*) and the bench's
        # softmax (usine_bench_*) and the split-k sum (usine_splitk_reduce_*) have no matrix
        # product: they must only not spill.
        case $name in
        *_scalar) ;;
        usine_attn_bwd_prep_* | usine_bench_* | usine_splitk_reduce_*) need="" ;;
        *) [ "$karch" -lt 90 ] && need="$need cp.async.cg.shared.global" ;;
        esac
        for instr in $need; do
            if [ ! -f "$entry" ] || ! grep -q "$instr" "$entry"; then
                echo "FAIL: the sm_$arch PTX of $name has no $instr"
                fail=1
            fi
        done
    done <"$work/table"

    # Kernels compiled but missing from the table (never dispatched, never checked).
    while read -r name _; do
        if ! grep -q "^$name " "$work/table"; then
            echo "FAIL: $name (sm_$arch) is not in the kernel table"
            fail=1
        fi
    done <"$work/report.$arch"
done

if [ "$fail" -ne 0 ]; then
    echo "ptxas check: FAILED"
    exit 1
fi
echo "ptxas check: $(wc -l <"$work/table") kernels, sm_80 and sm_90a: no spills, registers and shared memory within bounds, tensor-core instructions present"
