#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds + runs a separate project against it
# with find_package(svckit). Usage: check.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail
build="$1"
consumer="$2"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/svckitd" && test -x "$prefix/bin/svckit"
cmake -S "$consumer" -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"
