#!/usr/bin/env bash
# One RabbitMQ node shared by the integration tests of one ctest run (the `rabbitmq` fixture):
#   shared_rabbitmq.sh start DIR   starts epmd and a node on free loopback ports, detached, with
#                                  vhosts t1..tN open to guest; writes DIR/port when ready (when it
#                                  cannot, it says so and exits 0: tests then start their own)
#   shared_rabbitmq.sh stop DIR    stops both
# A test process claims one vhost of its own (testing::start_rabbitmq creates DIR/claims/tK with
# O_EXCL), so tests never see each other's queues; tests that crash or restart the broker start
# nodes of their own. Starting a node costs 5-10 s of Erlang boot: sharing one saves that per test.
set -euo pipefail
command=${1:?start|stop}
dir=${2:?directory}
vhosts=${SVCKIT_TEST_RABBITMQ_VHOSTS:-96}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
stop() {
  for name in rabbitmq epmd; do
    if [ -s "$dir/$name.pid" ]; then kill -TERM "$(cat "$dir/$name.pid")" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 100); do
    alive=0
    for name in rabbitmq epmd; do
      if [ -s "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for name in rabbitmq epmd; do
    if [ -s "$dir/$name.pid" ]; then kill -KILL "$(cat "$dir/$name.pid")" 2>/dev/null || true; fi
    rm -f "$dir/$name.pid"
  done
  rm -f "$dir/port"
}
case "$command" in
  stop)
    stop
    ;;
  start)
    [ -d "$dir" ] && stop
    rm -rf "$dir"
    mkdir -p "$dir/claims"
    port=$(free_port)
    epmd_port=$(free_port)
    dist_port=$(free_port)
    export HOME="$dir" ERL_EPMD_PORT="$epmd_port" RUNNING_UNDER_SYSTEMD=true RABBITMQ_NODE_PORT="$port" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME="rabbit-$port@localhost" RABBITMQ_DIST_PORT="$dist_port" \
      RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_FEATURE_FLAGS_FILE="$dir/feature_flags" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    setsid epmd -port "$epmd_port" -address 127.0.0.1 >"$dir/epmd.log" 2>&1 </dev/null &
    echo $! >"$dir/epmd.pid"
    setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/rabbitmq.log" 2>&1 </dev/null &
    echo $! >"$dir/rabbitmq.pid"
    # Ready when the node answers the AMQP 0-9-1 protocol header with connection.start.
    python3 - "$port" <<'PY' || { stop; tail -n 30 "$dir/rabbitmq.log" >&2; echo "shared RabbitMQ did not start" >&2; exit 1; }
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 90
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            if s.recv(3).startswith(b"\x01\x00\x00"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
    python3 - "$vhosts" >"$dir/definitions.json" <<'PY'
import json, sys
n = int(sys.argv[1])
names = ["t%d" % i for i in range(1, n + 1)]
print(json.dumps({"vhosts": [{"name": v} for v in names],
                  "permissions": [{"user": "guest", "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}
                                  for v in names]}))
PY
    /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "rabbit-$port@localhost" import_definitions "$dir/definitions.json" >"$dir/import.log" 2>&1 ||
      {
        stop
        cat "$dir/import.log" >&2
        echo "shared RabbitMQ: vhosts not made: each test starts a node of its own" >&2
        exit 0
      }
    echo "$vhosts" >"$dir/vhosts"
    echo "$port" >"$dir/port"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
