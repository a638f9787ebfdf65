#!/usr/bin/env bash
# Event bus benchmark: publish → consume on every backend in one run (memory, Redis Streams, NATS
# JetStream, RabbitMQ), side by side. The binary starts each broker on free loopback ports with its
# data in a temporary folder and stops it after. Extra args go to event_bus_bench (e.g. --events
# 50000 --publishers 64 --concurrency 64, or --only nats).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
scripts/build >/dev/null
echo "$(redis-server --version | cut -d' ' -f1-3); nats-server $(nats-server --version | awk '{print $NF}'); rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server)"
build/bench/event_bus_bench "$@"
