#!/usr/bin/env bash
# Instructions per proxied request: svckitd's gateway (1 thread) under Valgrind's callgrind while
# wrk (1 thread, 4 connections) sends small GETs through it to two nginx upstreams. Timings on a
# shared machine swing by ±10% between runs; an instruction count does not, so this is the figure
# to compare two builds by. The process's instructions of a run with no load (start, registration,
# one probe, shutdown) are subtracted from those of a loaded run, and the rest divided by the
# requests wrk completed. With --top N it also prints the N functions with the most instructions
# of their own, per request (the loaded run's, divided by its requests: the dynamic loader's
# start-up work is left out of that list). With --traced every request carries a new sampled W3C
# traceparent, so the gateway records its three spans and keeps them in svckitd's trace store: the
# difference to a run without it is what tracing costs per request. --unsampled sends the same
# traceparent with its sampled flag off (parsed and passed on, nothing recorded): what a request in
# an unsampled trace costs, and the baseline that leaves only recording in --traced's difference.
# --keep FILE keeps the loaded run's callgrind output (callgrind_annotate --inclusive=yes FILE
# shows what each function costs with its callees). Stops exactly what it started.
#   bench/gateway_instructions.sh [--seconds 6] [--binary build/daemon/svckitd] [--top 0]
#                                 [--traced|--unsampled] [--keep FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup --bench
for s in nginx; do
  if command -v service >/dev/null && service "$s" status >/dev/null 2>&1; then service "$s" stop >/dev/null 2>&1 || true; fi
done
seconds=6
binary=build/daemon/svckitd
top=0
traced=0
keep=
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --top) top="$2"; shift 2 ;;
    --traced) traced=1; shift ;;
    --unsampled) traced=2; shift ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$binary" != build/daemon/svckitd ] || scripts/build >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
. bench/lib/upstreams.sh
start_upstreams 2
. bench/lib/trace_script.sh
trace_script "$([ "$traced" -eq 2 ] && echo 00 || echo 01)" "$work/traced.lua"
script=()
[ "$traced" -eq 0 ] || script=(-s "$work/traced.lua")
cat >"$work/svckitd.yaml" <<CONF
gateway:
  routes:
    - prefix: /plain
      service: bench
CONF

# run_once <seconds of load> <out file> -> prints "<instructions> <requests>"
run_once() {
  local sp gp pid requests=0
  sp=$(free_port)
  gp=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$2" "$binary" --config "$work/svckitd.yaml" --port "$sp" \
    --gateway-port "$gp" --threads 1 --set gateway.threads=1 --set tracing.sample_ratio=0 --log-level warn \
    >"$work/svckitd.log" 2>&1 &
  pid=$!
  answers "$sp" /healthz
  for u in "${upstreams[@]}"; do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$sp/v1/instances" -H "Content-Type: application/json" \
      -d "{\"service\":\"bench\",\"host\":\"127.0.0.1\",\"port\":$u}"
  done
  answers "$gp" /plain/
  if [ "$1" -gt 0 ]; then
    requests=$(wrk -t1 -c4 -d"$1"s "${script[@]}" "http://127.0.0.1:$gp/plain/" | awk '/requests in/ {print $1}')
  fi
  kill -INT "$pid"
  wait "$pid" || true
  echo "$(callgrind_annotate "$2" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}') $requests"
}

read -r idle _ < <(run_once 0 "$work/idle.out")
read -r busy requests < <(run_once "$seconds" "$work/busy.out")
echo "binary: $binary"
echo "requests through the gateway under callgrind: $requests (wrk, 4 connections, ${seconds}s$([ "$traced" -eq 1 ] && echo ', each a new sampled trace')$([ "$traced" -eq 2 ] && echo ', each in a new unsampled trace'))"
echo "instructions: $busy loaded, $idle without load"
python3 -c "import sys; b,i,r=map(int,sys.argv[1:]); print(f'instructions per proxied request: {(b-i)/r:,.0f}')" \
  "$busy" "$idle" "$requests"
[ -z "$keep" ] || cp "$work/busy.out" "$keep"
if [ "$top" -gt 0 ]; then
  echo "functions with the most instructions of their own, per request:"
  callgrind_annotate --inclusive=no "$work/busy.out" 2>/dev/null |
    awk -v r="$requests" -v n="$top" '/^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ && !/ld-linux/ && !/\/elf\// && c < n {
      v=$1; gsub(",", "", v); $1=""; $2=""; printf "%8.0f %s\n", v / r, substr($0, 1, 150); c++ }'
fi
