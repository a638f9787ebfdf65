"""A service in any language, on svckitd's native HTTP API, with Python's standard library only.

The program of docs/guide-any-language.md. It
  - serves GET /health and GET /quote/<symbol>, and GET /portfolio which calls another service by
    name through svckitd's gateway, passing its caller's deadline on (X-Svckit-Deadline-Ms);
  - registers with svckitd: an HTTP check svckitd runs plus a TTL kept alive by heartbeats, and
    registers again when a heartbeat finds the registration gone (svckitd restarted without a
    snapshot, or the TTL ran out during a long pause);
  - on SIGTERM or SIGINT: maintenance (callers stop picking it) -> drain -> deregister -> exit 0.

    python3 any_language_service.py --name quotes --svckitd http://127.0.0.1:8500 \
        [--gateway http://127.0.0.1:8080] [--peer other-service] [--port-file FILE]
"""
import argparse
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Svckitd:
    """The few calls of svckitd's native API a service needs. Every call has a timeout."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, body=None, timeout=5.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")  # svckitd refuses text/plain writes
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:  # 4xx/5xx carry a JSON error body naming the field
            return error.code, json.loads(error.read() or b"null")

    def register(self, instance):
        status, body = self.call("POST", "/v1/instances", instance)
        if status != 200:
            raise RuntimeError("registration refused: %s %s" % (status, body))
        return body

    def heartbeat(self, service, instance_id):
        return self.call("PUT", "/v1/services/%s/instances/%s/heartbeat" % (service, instance_id))[0]

    def set_status(self, service, instance_id, status):
        return self.call("PUT", "/v1/services/%s/instances/%s/status" % (service, instance_id), {"status": status})[0]

    def deregister(self, service, instance_id):
        return self.call("DELETE", "/v1/services/%s/instances/%s" % (service, instance_id))[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="quotes")
    parser.add_argument("--svckitd", default="http://127.0.0.1:8500")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--peer", default="")
    parser.add_argument("--port-file", default="")
    parser.add_argument("--drain", type=float, default=1.0, help="seconds in maintenance before deregistering")
    args = parser.parse_args()
    registry = Svckitd(args.svckitd)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as svckitd's gateway pools connections

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, {"status": "ok"})
            elif self.path.startswith("/quote/"):
                self.answer(200, {"symbol": self.path[len("/quote/"):], "price": 101.5, "from": args.name})
            elif self.path == "/portfolio" and args.peer:
                self.answer(*portfolio(self.headers.get("X-Svckit-Deadline-Ms")))
            else:
                self.answer(404, {"error": {"code": "not_found", "message": "no route " + self.path}})

        def log_message(self, *unused):
            pass

    def portfolio(deadline_ms):
        # Through the gateway by name: /<service>/<path>. Pass the caller's deadline on (or set
        # one); the gateway retries on another instance within it and answers 504 when it passes.
        budget_ms = int(deadline_ms) if deadline_ms and deadline_ms.isdigit() else 2000
        request = urllib.request.Request("%s/%s/quote/ACME" % (args.gateway, args.peer))
        request.add_header("X-Svckit-Deadline-Ms", str(budget_ms))
        try:
            with urllib.request.urlopen(request, timeout=budget_ms / 1000.0) as answer:
                return 200, {"holdings": [json.loads(answer.read())]}
        except urllib.error.HTTPError as error:
            return 502, {"error": {"code": "upstream", "message": "%s answered %s" % (args.peer, error.code)}}
        except (urllib.error.URLError, socket.timeout) as error:
            return 503, {"error": {"code": "unavailable", "message": str(error)}}

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    # Always send the address other services should use (svckitd cannot guess it behind NAT).
    # With checks and no status the instance starts as "starting": out of rotation until svckitd's
    # first check of /health passes.
    instance = {
        "service": args.name,
        "host": "127.0.0.1",
        "port": port,
        "ttl": "10s",
        "tags": ["python"],
        "metadata": {"runtime": "python"},
        "checks": [{"type": "http", "path": "/health", "interval": "2s", "timeout": "1s"}],
    }
    stored = registry.register(instance)
    instance_id = stored["id"]
    print("registered %s/%s on port %d" % (args.name, instance_id, port), flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        # A rename is atomic: a reader never sees a half-written file.
        os.rename(args.port_file + ".tmp", args.port_file)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *unused: stop.set())
    signal.signal(signal.SIGINT, lambda *unused: stop.set())

    # Heartbeat every TTL/3; a 404 means svckitd no longer knows us: register again.
    while not stop.wait(10 / 3):
        try:
            if registry.heartbeat(args.name, instance_id) == 404:
                registry.register(dict(instance, id=instance_id))
                print("registered again after svckitd forgot us", flush=True)
        except OSError as error:  # svckitd unreachable: keep serving, try again next beat
            print("heartbeat failed: %s" % error, flush=True)

    # Graceful exit: maintenance -> drain (requests in flight and the callers' caches catch up) ->
    # deregister -> stop serving.
    registry.set_status(args.name, instance_id, "maintenance")
    time.sleep(args.drain)
    registry.deregister(args.name, instance_id)
    server.shutdown()
    print("deregistered, bye", flush=True)


if __name__ == "__main__":
    main()
