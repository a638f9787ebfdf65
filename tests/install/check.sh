#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds + runs separate projects against it
# with find_package(svckit): the whole package (CONSUMER_SOURCE_DIR), a user's tests on
# svckit::testing (testing_consumer), and one component alone
# (core_consumer) on a machine where pkg-config finds none of the other components' libraries.
# Usage: check.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail
build="$1"
consumer="$2"
here="$(cd "$(dirname "$0")" && pwd)"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/svckitd" && test -x "$prefix/bin/svckit"
launcher="$(command -v ccache || true)"
cmake -S "$consumer" -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"

# A user's tests on svckit::testing (the installed helpers and headers).
cmake -S "$here/testing_consumer" -B "$prefix/testing-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$prefix/testing-build" >/dev/null
"$prefix/testing-build/testing_consumer" >/dev/null

# The grpc component: a user's own protoc run, GrpcClient and HealthService from the package.
cmake -S "$here/grpc_consumer" -B "$prefix/grpc-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$prefix/grpc-build" >/dev/null
"$prefix/grpc-build/grpc_consumer" >/dev/null

# One component, no client libraries visible to pkg-config.
mkdir -p "$prefix/no-pkgconfig"
PKG_CONFIG_LIBDIR="$prefix/no-pkgconfig" PKG_CONFIG_PATH="" cmake -S "$here/core_consumer" \
  -B "$prefix/core-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$prefix/core-build" >/dev/null
if nm -C "$prefix/core-build/core_consumer" | grep -qE ' (redisConnect|natsConnection_Connect|amqp_new_connection|PQconnectdb)'; then
  echo "check.sh: the core consumer links a client library it did not ask for" >&2
  exit 1
fi
"$prefix/core-build/core_consumer" >/dev/null
if PKG_CONFIG_LIBDIR="$prefix/no-pkgconfig" PKG_CONFIG_PATH="" cmake -S "$here/redis_consumer" \
  -B "$prefix/redis-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$prefix/redis.log" 2>&1; then
  echo "check.sh: COMPONENTS redis configured without hiredis" >&2
  exit 1
fi
grep -q "needs hiredis" "$prefix/redis.log" || { cat "$prefix/redis.log" >&2; exit 1; }
echo "check.sh: full package, svckit::testing, grpc and core-only consumers built and ran; redis without hiredis refused"
