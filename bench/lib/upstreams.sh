# Sourced by the instruction-count benchmarks: helpers for processes they start on loopback.
# The caller keeps `pids` (an array; every process started here is added, for its cleanup) and
# `work` (a scratch directory).
#   free_port                -> prints a free loopback port
#   answers <port> [path]    -> waits (up to 60 s: Valgrind starts slowly) until it answers 200
#   start_upstreams <count>  -> starts <count> nginx processes (1 worker each, keep-alive, a small
#                               fixed JSON answer) and sets `upstreams` to their ports
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

answers() {
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1${2:-/}" || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "nothing answers 200 on port $1${2:-/}" >&2
  exit 1
}

start_upstreams() {
  local n port
  upstreams=()
  for n in $(seq 1 "$1"); do
    port=$(free_port)
    mkdir -p "$work/up$n"
    cat >"$work/up$n/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/up$n/nginx.pid;
error_log $work/up$n/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location / { default_type application/json; return 200 '{"ok":true}'; } }
}
CONF
    nginx -c "$work/up$n/nginx.conf" -p "$work/up$n" &
    pids+=($!)
    upstreams+=("$port")
    answers "$port" /
  done
}
