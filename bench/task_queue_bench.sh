#!/usr/bin/env bash
# Task queue benchmark: svckit's RedisTaskQueue against BullMQ (npm, installed here with `npm ci`
# from bench/npm/package-lock.json) on one redis-server (noeviction, no persistence) started on a
# free loopback port, same number of tasks, same concurrency, same producers, a no-op handler.
# Each side runs on a freshly flushed server; figures side by side, best of 2 rounds per side.
# Then the amqp:// row: svckit's AmqpTaskQueue with the same workload on a RabbitMQ node that
# task_queue_bench starts for it (persistent messages, publisher confirms), one round.
# Args: configurations CONCURRENCY:PRODUCERS (default: 16:8 64:32); TASKS=N (default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
(cd bench/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
tasks="${TASKS:-20000}"
configs="${*:-16:8 64:32}"  # concurrency:producers
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
echo "$(redis-server --version | cut -d' ' -f1-3); rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server); node $(node --version); $(nproc) cores; $tasks tasks per run"
for config in $configs; do
  concurrency="${config%%:*}"
  producers="${config##*:}"
  results=()
  for round in 1 2; do
    redis-cli -p "$port" flushall >/dev/null
    out=$(build/bench/task_queue_bench --redis-port "$port" --tasks "$tasks" --concurrency "$concurrency" --producers "$producers")
    echo "round $round: $(echo "$out" | head -1)"
    results+=("$(echo "$out" | sed -n 's/^RESULT svckit //p')")
    redis-cli -p "$port" flushall >/dev/null
    out=$(node bench/npm/bullmq_bench.js "$port" "$tasks" "$concurrency" "$producers")
    echo "round $round: $(echo "$out" | head -1)"
    results+=("$(echo "$out" | sed -n 's/^RESULT bullmq //p')")
  done
  out=$(build/bench/task_queue_bench --amqp --tasks "$tasks" --concurrency "$concurrency" --producers "$producers")
  echo "amqp: $(echo "$out" | head -1)"
  results+=("$(echo "$out" | sed -n 's/^RESULT amqp //p')")
  python3 - "$concurrency" "$producers" "${results[@]}" <<'PY'
import sys
c, p = sys.argv[1], sys.argv[2]
v = list(map(float, sys.argv[3:]))
svckit, bull, amqp = max(v[0], v[2]), max(v[1], v[3]), v[4]
print(f"concurrency {c}, {p} producers, best of 2: svckit {svckit:.0f} tasks/s, BullMQ {bull:.0f} tasks/s: "
      f"svckit/BullMQ = {svckit / bull:.2f}x (goal >= 2x); svckit amqp:// (RabbitMQ) {amqp:.0f} tasks/s")
PY
done
