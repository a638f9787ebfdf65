#!/usr/bin/env bash
# Gateway benchmark: svckitd's gateway against HAProxy and nginx as equivalent round-robin
# keep-alive reverse proxies over the same two upstreams (two nginx processes answering a small
# fixed body), on free loopback ports. Equal resources: 1 worker thread/process each, then 2.
# Each configuration is driven by the same wrk settings in alternating rounds (A B C A B C ...);
# the table shows the median over rounds and the ratios svckitd/HAProxy and svckitd/nginx. Then
# one upstream is killed mid-load under each proxy and the failed requests wrk saw are counted.
# The gateway is also measured on a route with JWT authentication (HS256, claims forwarded) and a
# rate limit per JWT subject (set high enough never to refuse), to show what they cost, and with
# every request traced (svckitd+trace: each request carries a new sampled W3C traceparent, so the
# gateway records its three spans and keeps them in svckitd's trace store), against the same
# requests unsampled (svckitd+untraced: the same wrk script with the sampled flag off, so that
# wrk's own cost of writing the header, on the same cores, is the same on both sides).
# For each proxy it also prints the CPU time per proxied request (user and system, from
# /proc/PID/stat over each wrk run, all of the proxy's processes) and, from one extra short run under
# `strace -c -f`, the system calls per request.
# Stops exactly what it started.
# --body-bytes N makes the upstreams answer N bytes of JSON instead of the small body.
#   bench/gateway_bench.sh [--rounds 3] [--seconds 5] [--connections 64] [--body-bytes 16384]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup --bench
# The packages may have started system-wide instances: this benchmark runs its own.
for s in haproxy nginx; do
  if command -v service >/dev/null && service "$s" status >/dev/null 2>&1; then service "$s" stop >/dev/null 2>&1 || true; fi
done
scripts/build >/dev/null
rounds=3
seconds=5
connections=64
body_bytes=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --body-bytes) body_bytes="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
declare -A pid=()
stop() {  # stop <name>
  local p="${pid[$1]:-}"
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$1]"
}
cleanup() {
  for name in "${!pid[@]}"; do stop "$name"; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1$2" && return 0; sleep 0.05; done
  echo "nothing answers on port $1" >&2
  exit 1
}

up1=$(free_port)
up2=$(free_port)
answer="location / { default_type application/json; return 200 '{\"ok\":true}'; }"
if [ "$body_bytes" -gt 0 ]; then  # a JSON string of body_bytes bytes, served as a file
  python3 -c "import sys; n=int(sys.argv[1]); sys.stdout.write('\"' + 'x' * max(0, n - 2) + '\"')" "$body_bytes" >"$work/body.json"
  chmod 755 "$work" && chmod 644 "$work/body.json"  # nginx's workers drop root: they must read it
  answer="location / { default_type application/json; root $work; try_files /body.json =404; }"
fi
start_upstream() {  # start_upstream <n> <port>
  mkdir -p "$work/up$1"
  cat >"$work/up$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/up$1/nginx.pid;
error_log $work/up$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server { listen 127.0.0.1:$2; $answer }
}
CONF
  nginx -c "$work/up$1/nginx.conf" -p "$work/up$1" &
  pid[up$1]=$!
  wait_port "$2" /
}
start_upstream 1 "$up1"
start_upstream 2 "$up2"

start_proxies() {  # start_proxies <threads>
  local t=$1
  hp=$(free_port)
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread $t
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
  retries 2
  option redispatch
  retry-on conn-failure empty-response response-timeout 502 503 504
frontend bench
  bind 127.0.0.1:$hp
  default_backend upstreams
backend upstreams
  balance roundrobin
  server u1 127.0.0.1:$up1 check inter 1s fall 2 rise 2
  server u2 127.0.0.1:$up2 check inter 1s fall 2 rise 2
CONF
  haproxy -W -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  sleep 0.2
  kill -0 $! 2>/dev/null || { echo "haproxy did not start:"; cat "$work/haproxy.log"; exit 1; }
  pid[haproxy]=$!
  np=$(free_port)
  mkdir -p "$work/proxy"
  cat >"$work/proxy/nginx.conf" <<CONF
worker_processes $t;
daemon off;
pid $work/proxy/nginx.pid;
error_log $work/proxy/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream upstreams { server 127.0.0.1:$up1; server 127.0.0.1:$up2; keepalive 64; }
  server {
    listen 127.0.0.1:$np;
    location / {
      proxy_pass http://upstreams;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503 http_504;
    }
  }
}
CONF
  nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" &
  pid[nginxproxy]=$!
  sp=$(free_port)
  gp=$(free_port)
  head -c 48 /dev/urandom | base64 | tr -d '\n' >"$work/jwt.secret"
  cat >"$work/svckitd.yaml" <<CONF
gateway:
  routes:
    - prefix: /plain
      service: bench
    - prefix: /auth
      service: bench
      auth: jwt
      jwt_secret_file: $work/jwt.secret
      jwt_audience: bench
      jwt_forward_claims: sub=X-User-Id
      rate_limit: 10000000
      rate_limit_by: claim:sub
CONF
  token=$(python3 - "$work/jwt.secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret = open(sys.argv[1], "rb").read().rstrip(b"\n")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
part = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(
    {"sub": "bench-user", "aud": "bench", "exp": int(time.time()) + 3600}).encode())
print((part + b"." + b64(hmac.new(secret, part, hashlib.sha256).digest())).decode())
PY
)
  # The gateway's t I/O threads do the proxying; svckitd's own single thread serves the registry.
  # Tracing samples no new trace (ratio 0): the svckitd+trace rows send a sampled traceparent, so
  # every one of their requests is traced (parent-based sampling) and the others none.
  build/daemon/svckitd --config "$work/svckitd.yaml" --port "$sp" --gateway-port "$gp" --threads 1 \
    --set gateway.threads="$t" --set tracing.sample_ratio=0 --log-level warn \
    >"$work/svckitd.log" 2>&1 &
  pid[svckitd]=$!
  wait_port "$sp" /healthz
  for u in "$up1" "$up2"; do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$sp/v1/instances" -H "Content-Type: application/json" \
      -d "{\"service\":\"bench\",\"host\":\"127.0.0.1\",\"port\":$u}"
  done
  wait_port "$hp" /
  wait_port "$np" /
  wait_port "$gp" /plain/
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gp/plain/")" = 200 ] ||
    { echo "the gateway does not reach the upstreams:"; cat "$work/svckitd.log"; exit 1; }
}
stop_proxies() { stop haproxy; stop nginxproxy; stop svckitd; }

# proxy_ticks <pid> -> "utime stime" in clock ticks, summed over the process and its children
# (HAProxy's master and worker, nginx's master and workers, svckitd's one process).
proxy_ticks() {
  local p u=0 s=0 f
  for p in "$1" $(pgrep -P "$1" || true); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }  # the fields after "(comm) "; utime and stime are fields 14 and 15
    read -r -a a <<<"$f"
    u=$((u + a[11])); s=$((s + a[12]))
  done
  echo "$u $s"
}
# run_wrk <pid> <url> <seconds> [header] [lua script] -> "rps p50_us p99_us non2xx errors user_us sys_us"
# (CPU per request)
run_wrk() {
  local header=() target=$1 before after
  shift
  [ $# -ge 3 ] && [ -n "$3" ] && header=(-H "$3")
  [ $# -ge 4 ] && header+=(-s "$4")
  before=$(proxy_ticks "$target")
  wrk -t1 -c"$connections" -d"${2}s" --latency "${header[@]}" "$1" >"$work/wrk.out" 2>&1
  after=$(proxy_ticks "$target")
  awk -v before="$before" -v after="$after" -v tick="$(getconf CLK_TCK)" '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
    /Requests\/sec/ {rps=$2}
    /requests in/ {n=$1}
    /^ +50%/ {p50=us($2)}
    /^ +99%/ {p99=us($2)}
    /Non-2xx or 3xx responses/ {bad=$5}
    /Socket errors/ {gsub(",", ""); err=$4+$6+$8+$10}
    END {
      split(before, b, " "); split(after, a, " ")
      cu = n > 0 ? (a[1] - b[1]) / tick * 1e6 / n : 0; cs = n > 0 ? (a[2] - b[2]) / tick * 1e6 / n : 0
      printf "%.0f %.1f %.1f %d %d %.2f %.2f\n", rps, p50, p99, bad+0, err+0, cu, cs
    }' "$work/wrk.out"
}
# syscalls_per_request <pid> <url> -> system calls per proxied request (strace -c -f on every
# process of the proxy over a 2 s wrk run; strace slows the proxy, the count per request stays)
syscalls_per_request() {
  local pids=() p
  for p in "$1" $(pgrep -P "$1" || true); do pids+=(-p "$p"); done
  strace -c -f -o "$work/strace.out" "${pids[@]}" 2>/dev/null &
  local strace_pid=$!
  sleep 0.5
  local n
  n=$(wrk -t1 -c"$connections" -d2s "$2" | awk '/requests in/ {print $1}')
  kill -INT "$strace_pid" 2>/dev/null || true
  wait "$strace_pid" 2>/dev/null || true
  awk -v n="$n" '$NF == "total" && n > 0 {printf "%.2f", $4 / n}' "$work/strace.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

. bench/lib/trace_script.sh
trace_script 01 "$work/trace.lua"
trace_script 00 "$work/untraced.lua"
echo "upstreams: 2 × $(nginx -v 2>&1) (1 worker each); proxies: $(haproxy -v | head -1 | cut -d' ' -f1-3), nginx, svckitd gateway"
echo "wrk: 1 thread, $connections connections, ${seconds}s per run, $rounds rounds (A B C A B C ...); $(nproc) cores"
echo "answer body: $([ "$body_bytes" -gt 0 ] && echo "$body_bytes bytes" || echo '{"ok":true}')"
for threads in 1 2; do
  start_proxies "$threads"
  : >"$work/results"
  for r in $(seq 1 "$rounds"); do
    for p in haproxy nginx svckitd svckitd+jwt svckitd+untraced svckitd+trace; do
      case $p in
        haproxy) url="http://127.0.0.1:$hp/"; target=${pid[haproxy]} ;;
        nginx) url="http://127.0.0.1:$np/"; target=${pid[nginxproxy]} ;;
        svckitd | svckitd+trace | svckitd+untraced) url="http://127.0.0.1:$gp/plain/"; target=${pid[svckitd]} ;;
        svckitd+jwt) url="http://127.0.0.1:$gp/auth/"; target=${pid[svckitd]} ;;
      esac
      if [ "$p" = svckitd+jwt ]; then
        echo "$p $(run_wrk "$target" "$url" "$seconds" "Authorization: Bearer $token")" >>"$work/results"
      elif [ "$p" = svckitd+trace ]; then
        echo "$p $(run_wrk "$target" "$url" "$seconds" "" "$work/trace.lua")" >>"$work/results"
      elif [ "$p" = svckitd+untraced ]; then
        echo "$p $(run_wrk "$target" "$url" "$seconds" "" "$work/untraced.lua")" >>"$work/results"
      else
        echo "$p $(run_wrk "$target" "$url" "$seconds")" >>"$work/results"
      fi
    done
  done
  echo
  echo "threads/processes per proxy: $threads"
  printf "  %-16s %11s %9s %9s %7s %12s %12s %13s\n" proxy "requests/s" "p50 us" "p99 us" failed "user us/req" "sys us/req" "syscalls/req"
  for p in haproxy nginx svckitd svckitd+jwt svckitd+untraced svckitd+trace; do
    case $p in
      haproxy) url="http://127.0.0.1:$hp/"; target=${pid[haproxy]} ;;
      nginx) url="http://127.0.0.1:$np/"; target=${pid[nginxproxy]} ;;
      svckitd) url="http://127.0.0.1:$gp/plain/"; target=${pid[svckitd]} ;;
      svckitd+jwt | svckitd+trace | svckitd+untraced) url="" ;;
    esac
    rps=$(awk -v p=$p '$1==p {print $2}' "$work/results" | median)
    p50=$(awk -v p=$p '$1==p {print $3}' "$work/results" | median)
    p99=$(awk -v p=$p '$1==p {print $4}' "$work/results" | median)
    bad=$(awk -v p=$p '$1==p {s+=$5+$6} END {print s+0}' "$work/results")
    cpu_user=$(awk -v p=$p '$1==p {print $7}' "$work/results" | median)
    cpu_sys=$(awk -v p=$p '$1==p {print $8}' "$work/results" | median)
    calls="-"
    [ -n "$url" ] && command -v strace >/dev/null && calls=$(syscalls_per_request "$target" "$url")
    printf "  %-16s %11.0f %9.1f %9.1f %7d %12.2f %12.2f %13s\n" "$p" "$rps" "$p50" "$p99" "$bad" "$cpu_user" "$cpu_sys" "$calls"
    eval "rps_${p/+/_}=$rps; p99_${p/+/_}=$p99; user_${p/+/_}=$cpu_user; sys_${p/+/_}=$cpu_sys"
  done
  awk -v a="$rps_svckitd_jwt" -v b="$rps_svckitd" -v pa="$p99_svckitd_jwt" -v pb="$p99_svckitd" \
    'BEGIN {printf "  JWT + rate limit on/off: throughput %.2fx (goal >= 0.90), p99 %.2fx\n", a/b, pa/pb}'
  awk -v a="$rps_svckitd_trace" -v b="$rps_svckitd_untraced" -v pa="$p99_svckitd_trace" -v pb="$p99_svckitd_untraced" \
    -v ua="$user_svckitd_trace" -v ub="$user_svckitd_untraced" -v sa="$sys_svckitd_trace" -v sb="$sys_svckitd_untraced" \
    'BEGIN {printf "  every request traced (3 spans kept by svckitd) vs the same requests unsampled: throughput %.2fx (goal >= 0.90), p99 %.2fx, CPU +%.2f us/request\n", a/b, pa/pb, (ua+sa)-(ub+sb)}'
  awk -v a="$rps_svckitd" -v h="$rps_haproxy" -v n="$rps_nginx" -v pa="$p99_svckitd" -v ph="$p99_haproxy" -v pn="$p99_nginx" \
    'BEGIN {printf "  svckitd/HAProxy: throughput %.2fx, p99 %.2fx;  svckitd/nginx: throughput %.2fx, p99 %.2fx\n", a/h, pa/ph, a/n, pa/pn}'
  awk -v su="$user_svckitd" -v ss="$sys_svckitd" -v hu="$user_haproxy" -v hs="$sys_haproxy" \
    'BEGIN {printf "  CPU per request svckitd/HAProxy: user %.2fx, system %.2fx (goal <= 1.00 each)\n", su/hu, ss/hs}'
  if [ "$threads" = 1 ]; then
    echo
    echo "one upstream killed (SIGKILL) 2 s into a 6 s run, restarted after:"
    for p in haproxy nginx svckitd; do
      case $p in
        haproxy) url="http://127.0.0.1:$hp/"; target=${pid[haproxy]} ;;
        nginx) url="http://127.0.0.1:$np/"; target=${pid[nginxproxy]} ;;
        svckitd) url="http://127.0.0.1:$gp/plain/"; target=${pid[svckitd]} ;;
      esac
      run_wrk "$target" "$url" 6 >"$work/kill.out" &
      wrk_pid=$!
      sleep 2
      workers=$(pgrep -P "${pid[up2]}" || true)  # the worker holds the connections: it dies too
      kill -KILL "${pid[up2]}" $workers 2>/dev/null || true
      wait "${pid[up2]}" 2>/dev/null || true
      unset "pid[up2]"
      for w in $workers; do while kill -0 "$w" 2>/dev/null; do sleep 0.05; done; done
      wait "$wrk_pid"
      read -r rps p50 p99 bad err _ _ <"$work/kill.out"
      printf "  %-10s %8d non-2xx + %d socket errors of %.0f requests\n" "$p" "$bad" "$err" "$(awk -v r="$rps" 'BEGIN {print r*6}')"
      start_upstream 2 "$up2"
      sleep 2.5  # HAProxy's check (inter 1s, rise 2) sees it back before the next run
    done
  fi
  stop_proxies
done
