#!/bin/sh
# Installs everything usine needs on Debian 12 (bookworm): the build tools and libraries,
# the peers the benchmark compares against (loaded at run time, never linked), and what
# the tests use. Safe to run again. Runs apt-get as root, or through sudo.
set -eu

BUILD="build-essential cmake pkg-config libhwloc-dev hwloc-nox libpapi-dev papi-tools"
# The usine command's cluster modes (Open MPI) and result files (cJSON).
TOOLS="openmpi-bin libopenmpi-dev libcjson-dev"
# Peers for `usine bench` (dlopen'ed): OpenBLAS, BLIS, oneDNN; oneDNN's header only for the
# types of its matmul primitive (the bf16 and int8 peer), never linked.
PEERS="libopenblas0-pthread libblis4-pthread libdnnl2 libdnnl-dev"
# Tests: the reference BLAS test programs (xblat3s...), numpy (LD_PRELOAD test), python3
# (JSON checks), python3-jsonschema (the bench JSON against its schema), clang-format
# (style check), chromium (renders the HTML report).
TESTS="libblas-test python3 python3-numpy python3-jsonschema clang-format chromium"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "scripts/setup.sh: run as root (or install sudo)" >&2
    exit 1
fi

missing=""
for p in $BUILD $TOOLS $PEERS $TESTS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "scripts/setup.sh: all packages present"
    exit 0
fi
echo "scripts/setup.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "scripts/setup.sh: done"
