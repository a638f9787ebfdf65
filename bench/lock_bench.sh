#!/usr/bin/env bash
# Lock benchmark: svckit's LockManager on memory://, redis:// and etcd:// against Redlock (npm
# redlock on the same Redis) and etcd3's Lock (npm etcd3 on the same etcd), same phases, same
# pair counts. redis-server (no persistence) and a single-node etcd are started here on free
# loopback ports with data in a temporary folder, and stopped after.
# Env: PAIRS (default 4000), WORKERS (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
(cd bench/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
pairs="${PAIRS:-4000}"
workers="${WORKERS:-8}"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
etcd_port=$(free_port)
peer_port=$(free_port)
etcd --name bench --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "bench=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
for _ in $(seq 1 200); do etcdctl --endpoints "127.0.0.1:$etcd_port" endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
echo "$(redis-server --version | cut -d' ' -f1-3); etcd $(etcd --version | head -1 | awk '{print $3}'); node $(node --version); $(nproc) cores; $pairs pairs per phase, $workers workers"
build/bench/lock_bench --url memory:// --pairs "$pairs" --workers "$workers"
build/bench/lock_bench --url "redis://127.0.0.1:$redis_port" --pairs "$pairs" --workers "$workers"
redis-cli -p "$redis_port" flushall >/dev/null
node bench/npm/lock_peers_bench.js redlock "$redis_port" "$pairs" "$workers"
build/bench/lock_bench --url "etcd://127.0.0.1:$etcd_port" --pairs "$pairs" --workers "$workers"
node bench/npm/lock_peers_bench.js etcd3 "$etcd_port" "$pairs" "$workers"
