#!/usr/bin/env bash
# Durable persistent registrations: starts svckitd with a snapshot file (acknowledged = fsynced),
# svckitd without one (memory only) and etcd (Debian's etcd-server) on free loopback ports with
# their data in one temporary folder on the same disk, runs bench/persist_bench against all three
# and stops exactly what it started. Extra args go to persist_bench (e.g. --registrations 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
work=$(mktemp -d "${TMPDIR:-/var/tmp}/persist-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

build/daemon/svckitd --port 0 --port-file "$work/durable.port" --threads 2 --log-level warn \
  --snapshot-file "$work/registry.json" --set limits.max_instances_per_service=100000 >"$work/durable.log" 2>&1 &
pids+=($!)
build/daemon/svckitd --port 0 --port-file "$work/memory.port" --threads 2 --log-level warn \
  --set limits.max_instances_per_service=100000 >"$work/memory.log" 2>&1 &
pids+=($!)
etcd_port=$(free_port)
peer_port=$(free_port)
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!)
for f in durable memory; do
  for _ in $(seq 100); do [ -s "$work/$f.port" ] && break; sleep 0.1; done
done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$etcd_port/health" >/dev/null && break; sleep 0.1; done
build/bench/persist_bench --durable-port "$(cat "$work/durable.port")" --memory-port "$(cat "$work/memory.port")" \
  --etcd-port "$etcd_port" "$@"
