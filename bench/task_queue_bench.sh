#!/usr/bin/env bash
# Task queue benchmark: svckit's RedisTaskQueue against BullMQ (npm, installed here with `npm ci`
# from bench/npm/package-lock.json) on one redis-server (noeviction, no persistence) started on a
# free loopback port, same number of tasks, same concurrency, same producers, a no-op handler.
# Each side runs on a freshly flushed server; figures side by side. Extra args: TASKS CONCURRENCY PRODUCERS.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
(cd bench/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
tasks="${1:-20000}"
concurrency="${2:-16}"
producers="${3:-8}"
work=$(mktemp -d)
redis_pid=
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --maxmemory-policy noeviction \
  --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "$(redis-server --version | cut -d' ' -f1-3); node $(node --version); $(nproc) cores; $tasks tasks, concurrency $concurrency, $producers producers"
results=()
for round in 1 2; do
  redis-cli -p "$port" flushall >/dev/null
  out=$(build/bench/task_queue_bench --redis-port "$port" --tasks "$tasks" --concurrency "$concurrency" --producers "$producers")
  echo "round $round: $out" | head -1
  results+=("$(echo "$out" | sed -n 's/^RESULT svckit //p')")
  redis-cli -p "$port" flushall >/dev/null
  out=$(node bench/npm/bullmq_bench.js "$port" "$tasks" "$concurrency" "$producers")
  echo "round $round: $out" | head -1
  results+=("$(echo "$out" | sed -n 's/^RESULT bullmq //p')")
done
python3 - "${results[@]}" <<'PY'
import sys
v = list(map(float, sys.argv[1:]))
svckit, bull = max(v[0], v[2]), max(v[1], v[3])
print(f"best of 2: svckit {svckit:.0f} tasks/s, BullMQ {bull:.0f} tasks/s: svckit/BullMQ = {svckit / bull:.2f}x (goal >= 2x)")
PY
