#!/bin/sh
# clang-format on every C and CUDA source: `scripts/format.sh` rewrites, `--check` only reports.
set -eu
cd "$(dirname "$0")/.."
files=$(find include core autotune kernels cli bench tests -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' | sort)
if [ "${1:-}" = "--check" ]; then
    # shellcheck disable=SC2086
    if ! clang-format --dry-run --Werror $files; then
        echo "scripts/format.sh: run scripts/format.sh to fix the formatting above" >&2
        exit 1
    fi
    echo "scripts/format.sh: formatting ok ($(echo "$files" | wc -l) files)"
else
    # shellcheck disable=SC2086
    clang-format -i $files
fi
