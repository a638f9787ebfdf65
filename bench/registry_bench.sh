#!/usr/bin/env bash
# Registry benchmark: starts svckitd (once per API under test: native, ACLs on, Consul, Eureka,
# Nacos, and three cluster nodes), etcd (Debian's etcd-server), nats-server (JetStream)
# and redis-server on free loopback ports with data in a temporary folder, runs the same workload
# against each, prints figures side by side, and stops exactly the processes it started. Extra args go to registry_bench (e.g. --instances 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

build/daemon/svckitd --port 0 --port-file "$work/svckitd.port" --threads 2 --log-level warn \
  --set limits.max_instances_per_service=20000 >"$work/svckitd.log" 2>&1 &
svckitd_pid=$!
pids+=("$svckitd_pid")

# A third svckitd, with ACLs on, for the svckitd:// column's twin: what authorization costs.
acl_root=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
SVCKITD_ACL_BOOTSTRAP_TOKEN="$acl_root" build/daemon/svckitd --port 0 --port-file "$work/acl.port" --threads 2 \
  --log-level warn --set limits.max_instances_per_service=20000 --set acl.enabled=true >"$work/acl.log" 2>&1 &
acl_pid=$!
pids+=("$acl_pid")

# A second svckitd, empty, for the consul:// column (its Consul-compatible API).
build/daemon/svckitd --port 0 --port-file "$work/consul.port" --threads 2 --log-level warn \
  --set limits.max_instances_per_service=20000 >"$work/consul.log" 2>&1 &
consul_pid=$!
pids+=("$consul_pid")

# Two more, empty, for the eureka:// and nacos:// columns (svckitd's Eureka and Nacos APIs).
for api in eureka nacos; do
  build/daemon/svckitd --port 0 --port-file "$work/$api.port" --threads 2 --log-level warn \
    --set limits.max_instances_per_service=20000 >"$work/$api.log" 2>&1 &
  pids+=("$!")
  eval "${api}_pid=$!"
done

nats_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
nats_pid=$!
pids+=("$nats_pid")

etcd_port=$(free_port)
peer_port=$(free_port)
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
pids+=("$etcd_pid")

# An etcd cluster for the etcd:// column and one for cluster mode, of REGISTRY_BENCH_ETCD_MEMBERS
# members each (default 3, as in production): each column's raft writes are counted etcd-wide, so
# none may see another's (an earlier column's leases expiring are raft writes too).
members=${REGISTRY_BENCH_ETCD_MEMBERS:-3}
start_etcd() {  # start_etcd <name>: endpoints in started_endpoints, first member's port/pid in started_port/pid
  local i initial="" ports=() peers=()
  for i in $(seq 1 "$members"); do
    ports+=("$(free_port)")
    peers+=("$(free_port)")
    initial+="${initial:+,}$1-$i=http://127.0.0.1:${peers[$((i - 1))]}"
  done
  started_endpoints=""
  started_pid=""
  for i in $(seq 1 "$members"); do
    local client=${ports[$((i - 1))]} peer=${peers[$((i - 1))]}
    etcd --name "$1-$i" --data-dir "$work/$1-$i" --listen-client-urls "http://127.0.0.1:$client" \
      --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "$initial" \
      --initial-cluster-state new --log-level error >"$work/$1-$i.log" 2>&1 &
    pids+=("$!")
    [ -n "$started_pid" ] || started_pid=$!
    started_endpoints+="${started_endpoints:+,}127.0.0.1:$client"
  done
  started_port=${ports[0]}
}
start_etcd etcd-registry
registry_etcd_port=$started_port
registry_etcd_pid=$started_pid
start_etcd etcd-cluster
cluster_etcd_port=$started_port
cluster_etcd_endpoints=$started_endpoints

# Cluster mode: three svckitd nodes over their etcd.
for node in n1 n2 n3; do
  build/daemon/svckitd --port 0 --port-file "$work/$node.port" --threads 2 --log-level warn \
    --store "etcd://$cluster_etcd_endpoints?prefix=/svckit-cluster&max_instances=20000&timeout=10s" \
    --set store_start_timeout=20s --set "cluster.node_name=$node" >"$work/$node.log" 2>&1 &
  pids+=("$!")
  eval "${node}_pid=$!"
done

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")

for _ in $(seq 1 400); do
  [ -s "$work/svckitd.port" ] && [ -s "$work/consul.port" ] && [ -s "$work/acl.port" ] && [ -s "$work/n1.port" ] &&
    [ -s "$work/eureka.port" ] && [ -s "$work/nacos.port" ] && (echo >"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null &&
    [ -s "$work/n2.port" ] && [ -s "$work/n3.port" ] && curl -s -o /dev/null -X POST "http://127.0.0.1:$etcd_port/v3/kv/range" -d '{"key":"AA=="}' &&
    curl -s -o /dev/null -X POST "http://127.0.0.1:$registry_etcd_port/v3/kv/range" -d '{"key":"AA=="}' && break
  sleep 0.05
done
for _ in $(seq 1 200); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
echo "peers: $(etcd --version | head -1) ($members members per etcd cluster), via its v3 JSON gateway; $(redis-server --version | cut -d' ' -f1-3) through redis://; nats-server $(nats-server --version | cut -d' ' -f2) through nats://; $(nproc) cores"
svckitd_port=$(cat "$work/svckitd.port")
acl_port=$(cat "$work/acl.port")
# The client's token may write the services named registry-* (the ones measured) and read every service.
BENCH_TOKEN=$(curl -s -X PUT "http://127.0.0.1:$acl_port/v1/acl/token" -H "X-Svckit-Token: $acl_root" \
  -H "Content-Type: application/json" \
  -d '{"Description": "bench", "Rules": {"service_prefix": {"": "read", "registry-": "write"}}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["SecretID"])')
export BENCH_TOKEN
build/bench/registry_bench --svckitd-port "$svckitd_port" --svckitd-pid "$svckitd_pid" \
  --etcd-port "$etcd_port" --etcd-pid "$etcd_pid" \
  --registry "svckitd://,svckitd://127.0.0.1:$svckitd_port?timeout=10s,$svckitd_pid" \
  "etcd://,etcd://127.0.0.1:$registry_etcd_port?prefix=/svckit-registry&max_instances=20000,$registry_etcd_pid,etcd=$registry_etcd_port" \
  "redis://,redis://127.0.0.1:$redis_port/0?max_instances=20000,$redis_pid" \
  "nats://,nats://127.0.0.1:$nats_port?max_instances=20000,$nats_pid" \
  "svckitd:// ACLs on,svckitd://127.0.0.1:$acl_port?timeout=10s&token_env=BENCH_TOKEN,$acl_pid" \
  "consul:// (svckitd),consul://127.0.0.1:$(cat "$work/consul.port")?timeout=10s,$consul_pid" \
  "eureka:// (svckitd; poll 100ms),eureka://127.0.0.1:$(cat "$work/eureka.port")/eureka?timeout=10s&poll=100ms,$eureka_pid" \
  "nacos:// (svckitd; poll 100ms),nacos://127.0.0.1:$(cat "$work/nacos.port")?timeout=10s&poll=100ms,$nacos_pid" \
  "svckitd cluster (3 nodes; watch across nodes),svckitd://127.0.0.1:$(cat "$work/n1.port")?timeout=10s,$n1_pid,svckitd://127.0.0.1:$(cat "$work/n2.port")?timeout=10s,etcd=$cluster_etcd_port" "$@"
