#!/usr/bin/env bash
# Instructions per call: ServiceClient (client_bench mode a) against the raw keep-alive Beast loop
# (mode b), each under Valgrind's callgrind, 4 connections to two nginx upstreams. Timings on a
# shared machine swing by ±10% between runs; an instruction count does not, so this is the figure
# to compare two builds by, and the gap to the raw loop in user-space work. A run of 0.05 s (start,
# discovery, shutdown) is subtracted from each loaded run and the rest divided by its calls. With
# --top N it also prints the N functions with the most instructions of their own per ServiceClient
# call; --keep FILE keeps the ServiceClient run's callgrind output. Stops exactly what it started.
#   bench/client_instructions.sh [--seconds 4] [--binary build/bench/client_bench] [--top 0] [--keep FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup --bench
seconds=4
binary=build/bench/client_bench
top=0
keep=
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --top) top="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$binary" != build/bench/client_bench ] || scripts/build >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
. bench/lib/upstreams.sh
start_upstreams 2
args=()
for u in "${upstreams[@]}"; do args+=(--upstream "127.0.0.1:$u"); done

# run_once <mode> <seconds> <out file> -> prints "<instructions> <calls>"
run_once() {
  local calls
  calls=$(valgrind --tool=callgrind --callgrind-out-file="$3" "$binary" "${args[@]}" --connections 4 \
    --seconds "$2" --modes "$1" 2>/dev/null | awk '/calls\/s/ {print $NF}')
  echo "$(callgrind_annotate "$3" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}') ${calls:-0}"
}

per_call() {  # per_call <mode> -> instructions per call, from a 0.05 s run and a loaded one
  local idle idle_calls busy calls
  read -r idle idle_calls < <(run_once "$1" 0.05 "$work/idle-$1.out")
  read -r busy calls < <(run_once "$1" "$seconds" "$work/busy-$1.out")
  python3 -c "import sys; b,i,c,ic=map(int,sys.argv[1:]); print(f'{(b-i)/(c-ic):,.0f} {c}')" "$busy" "$idle" "$calls" "$idle_calls"
}

read -r service service_calls < <(per_call a)
read -r raw raw_calls < <(per_call b)
echo "binary: $binary (4 connections, ${seconds}s under callgrind)"
echo "instructions per call: ServiceClient $service ($service_calls calls), raw keep-alive loop $raw ($raw_calls calls)"
[ -z "$keep" ] || cp "$work/busy-a.out" "$keep"
if [ "$top" -gt 0 ]; then
  echo "functions with the most instructions of their own, per ServiceClient call:"
  callgrind_annotate --inclusive=no "$work/busy-a.out" 2>/dev/null |
    awk -v r="$service_calls" -v n="$top" '/^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ && !/ld-linux/ && !/\/elf\// && c < n {
      v=$1; gsub(",", "", v); $1=""; $2=""; printf "%8.0f %s\n", v / r, substr($0, 1, 150); c++ }'
fi
