"""python3-consul2 (Debian's maintained Python Consul client) against svckitd's Consul-compatible API.

Run by tests/integration/consul_python_test.cpp with Debian's /usr/bin/python3:
    python3 consul2_lifecycle.py SVCKITD_PORT
Serves its own /health, then walks a service's whole life through the client: register with an
HTTP check and with a TTL check, pass/warn/fail, blocking queries, maintenance, agent checks,
catalog reads, deregistration. Prints one line per step; exits non-zero at the first surprise.
"""
import http.server
import sys
import threading
import time
import urllib.request

import consul


def wait_for(what, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(Health.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web_port = server.server_address[1]
    c = consul.Consul(host="127.0.0.1", port=port)

    def passing(name):
        return len(c.health.service(name, passing=True)[1])

    # An HTTP check that svckitd runs.
    check = consul.Check.http("http://127.0.0.1:%d/health" % web_port, interval="100ms", timeout="1s",
                              deregister="1m")
    expect(c.agent.service.register("py-web", service_id="py-web-1", address="127.0.0.1", port=web_port,
                                    tags=["python", "v1"], meta={"runtime": "python"}, check=check),
           "register returned false")
    wait_for("py-web passing", lambda: passing("py-web") == 1)
    entry = c.health.service("py-web", passing=True)[1][0]
    expect(entry["Service"]["ID"] == "py-web-1", "health entry: %r" % entry)
    expect(entry["Service"]["Meta"]["runtime"] == "python", "meta: %r" % entry["Service"]["Meta"])
    print("http check passing")
    Health.status = 503
    wait_for("py-web critical", lambda: passing("py-web") == 0)
    Health.status = 200
    wait_for("py-web passing again", lambda: passing("py-web") == 1)
    print("http check follows the service")

    # A TTL check the service keeps alive itself (ttl_pass/warn/fail are PUTs in this client).
    expect(c.agent.service.register("py-job", service_id="py-job-1", address="127.0.0.1", port=9100,
                                    check=consul.Check.ttl("30s")), "register py-job")
    expect(passing("py-job") == 0, "a TTL check starts critical")
    c.agent.check.ttl_pass("service:py-job-1")
    expect(passing("py-job") == 1, "ttl_pass")
    c.agent.check.ttl_warn("service:py-job-1")
    expect(passing("py-job") == 1, "warning counts as passing")
    c.agent.check.ttl_fail("service:py-job-1", notes="disk full")
    expect(passing("py-job") == 0, "ttl_fail")
    print("ttl check pass/warn/fail")

    # A blocking query returns when the service changes, with a higher index.
    index, _ = c.health.service("py-job")
    result = {}

    def block():
        result["answer"] = c.health.service("py-job", index=index, wait="20s")

    waiter = threading.Thread(target=block)
    started = time.monotonic()
    waiter.start()
    # Parked, as svckitd's own gauge says (no sleep): then it must not return before a change.
    metrics = "http://127.0.0.1:%d/metrics" % port
    wait_for("the blocking query parked",
             lambda: "svckit_long_polls_active 1\n" in urllib.request.urlopen(metrics, timeout=5).read().decode())
    expect(waiter.is_alive(), "the blocking query returned before any change")
    c.agent.check.ttl_pass("service:py-job-1")
    waiter.join(10)
    expect(not waiter.is_alive(), "the blocking query did not return after the change")
    new_index, nodes = result["answer"]
    expect(int(new_index) > int(index), "index %s -> %s" % (index, new_index))
    expect(len(nodes) == 1 and time.monotonic() - started < 10, "blocking answer %r" % (nodes,))
    print("blocking query woke at index %s" % new_index)

    # Maintenance takes the instance out and shows as a check; disabling it restores it.
    expect(c.agent.service.maintenance("py-web-1", "true", reason="deploy"), "maintenance on")
    expect(passing("py-web") == 0, "maintenance is not passing")
    checks = c.agent.checks()
    expect("_service_maintenance:py-web-1" in checks, "agent checks: %r" % list(checks))
    expect(checks["service:py-web-1"]["ServiceName"] == "py-web", "check entry %r" % checks["service:py-web-1"])
    expect(c.agent.service.maintenance("py-web-1", "false"), "maintenance off")
    wait_for("py-web back", lambda: passing("py-web") == 1)
    print("maintenance on and off")

    # Catalog and agent reads.
    services = c.agent.services()
    expect(services["py-web-1"]["Port"] == web_port, "agent services %r" % services)
    _, catalog = c.catalog.services()
    expect(sorted(catalog["py-web"]) == ["python", "v1"], "catalog services %r" % catalog)
    _, nodes = c.catalog.service("py-web")
    expect(nodes[0]["ServiceID"] == "py-web-1", "catalog service %r" % nodes)
    expect(c.status.leader() != "", "status leader")
    expect(c.agent.self()["Config"]["Datacenter"] != "", "agent self")
    print("catalog and agent reads")

    # Deregistration removes both, everywhere.
    expect(c.agent.service.deregister("py-web-1"), "deregister py-web-1")
    expect(c.agent.service.deregister("py-job-1"), "deregister py-job-1")
    expect("py-web-1" not in c.agent.services(), "py-web-1 still listed")
    expect(c.health.service("py-job")[1] == [], "py-job still listed")
    expect(not any(k.startswith("service:py-") for k in c.agent.checks()), "checks left behind")
    print("deregistered")
    server.shutdown()


if __name__ == "__main__":
    main()
