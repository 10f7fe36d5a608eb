#!/bin/sh
# Installs the build tree into a temporary prefix, then builds and runs a consumer against
# it four ways: CMake find_package (shared, static) and pkg-config (shared, static).
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libusine.so.0' -exec dirname {} \; | head -n 1)
[ -n "$libdir" ] || { echo "FAIL: libusine.so.0 not installed"; exit 1; }
soname=$(readelf -d "$libdir/libusine.so.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libusine.so.0" ] || { echo "FAIL: soname is '$soname'"; exit 1; }
[ -f "$libdir/libusine.a" ] || { echo "FAIL: libusine.a not installed"; exit 1; }
[ -f "$prefix/include/usine.h" ] || { echo "FAIL: usine.h not installed"; exit 1; }

echo "== find_package(usine)"
cmake -S "$src/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cmake-build/consumer_shared"
"$work/cmake-build/consumer_static"
if ldd "$work/cmake-build/consumer_static" | grep -q libusine; then
    echo "FAIL: consumer_static is linked to the shared library"
    exit 1
fi

echo "== pkg-config usine"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -o "$work/pc_shared" "$src/consumer/main.c" $(pkg-config --cflags --libs usine)
LD_LIBRARY_PATH=$libdir "$work/pc_shared"
# shellcheck disable=SC2046
$cc -o "$work/pc_static" "$src/consumer/main.c" $(pkg-config --cflags usine) \
    "$libdir/libusine.a" $(pkg-config --static --libs usine | sed 's/-lusine\b//')
"$work/pc_static"
echo "install test: ok"
