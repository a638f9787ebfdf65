#!/usr/bin/env bash
# Client benchmark: starts nginx (1 worker, two ports answering a fixed JSON body) on free loopback
# ports, then measures in one run (a) ServiceClient, (b) a raw keep-alive Beast loop, (c) a new
# connection per call — all with the same number of connections, on one client thread — and
# (d) wrk (1 thread) against the same upstream as the ceiling. Stops exactly what it started.
#   bench/client_bench.sh [--connections 16] [--seconds 5] [--modes bac]
# (--modes: the client modes in the order to run them, e.g. bawbaw to alternate; see client_bench --help)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
# Benchmark-only packages (not in scripts/setup: nginx's package tries to start a system service).
missing=()
for p in nginx wrk; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
scripts/build >/dev/null
connections=16
seconds=5
modes=bac
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
p1=$(free_port)
p2=$(free_port)
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$p1;
    listen 127.0.0.1:$p2;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
pid=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$p1/" && break; sleep 0.05; done
echo "upstream: $(nginx -v 2>&1), 1 worker, ports $p1 $p2; $(nproc) cores; $connections connections; ${seconds}s per mode"
build/bench/client_bench --upstream "127.0.0.1:$p1" --upstream "127.0.0.1:$p2" --connections "$connections" \
  --seconds "$seconds" --modes "$modes"
wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$p1/" | awk '
  /Requests\/sec/ {rps=$2}
  /^ +50%/ {p50=$2}
  /^ +99%/ {p99=$2}
  END {printf "(d) wrk (ceiling)             %10.0f calls/s   p50 %10s   p99 %10s\n", rps, p50, p99}'
