#!/bin/sh
# The whole test suite, as CI runs it: formatting, the release build and its tests, then
# the AddressSanitizer + UndefinedBehaviorSanitizer build and its tests.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

sh scripts/format.sh --check

cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

cmake --preset asan-ubsan
cmake --build --preset asan-ubsan -j "$jobs"
ctest --preset asan-ubsan -j "$jobs"
echo "scripts/test.sh: all tests passed"
