// The npm `nacos` client (its naming part) against svckitd's Nacos-compatible API, driven by
// tests/integration/nacos_npm_test.cpp:
//   node nacos_client.js SVCKITD_PORT SERVICE PORT FIND_SERVICE MORE_FILE STOP_FILE
// Registers SERVICE (ephemeral: the client beats), prints one JSON line with the instances of
// FIND_SERVICE; subscribes to FIND_SERVICE and, once MORE_FILE exists and the subscription reported
// two instances, prints a second line; once STOP_FILE exists, deregisters, prints a third line and
// exits. Exits non-zero on any error.
"use strict";
const fs = require("fs");
const { NacosNamingClient } = require("nacos");

const [port, service, servicePort, findService, moreFile, stopFile] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (...a) => console.error(...a) };
const deadline = Date.now() + 60000;

function fail(why) {
  console.error(why);
  process.exit(1);
}

function waitFor(test) {
  return new Promise((resolve) => {
    const poll = () => {
      if (test()) return resolve();
      if (Date.now() > deadline) fail("timed out");
      setTimeout(poll, 50);
    };
    poll();
  });
}

function shown(hosts) {
  return hosts.map((h) => ({ ip: h.ip, port: h.port, weight: h.weight, healthy: h.healthy,
                             enabled: h.enabled, metadata: h.metadata }));
}

async function main() {
  const client = new NacosNamingClient({ logger: quiet, serverList: `127.0.0.1:${port}`, namespace: "public" });
  await client.ready();
  await client.registerInstance(service, { ip: "127.0.0.1", port: Number(servicePort), weight: 2,
                                           metadata: { runtime: "node" } });
  const found = await client.getAllInstances(findService);
  console.log(JSON.stringify({ found: shown(found), status: await client.getServerStatus() }));
  let latest = [];
  client.subscribe(findService, (hosts) => { latest = hosts; });
  await waitFor(() => fs.existsSync(moreFile) && latest.length === 2);
  console.log(JSON.stringify({ changed: shown(latest) }));
  await waitFor(() => fs.existsSync(stopFile));
  await client.deregisterInstance(service, { ip: "127.0.0.1", port: Number(servicePort) });
  console.log(JSON.stringify({ stopped: true }));
  client.close();
  process.exit(0);
}

main().catch((err) => fail(`nacos client failed: ${err && err.stack ? err.stack : err}`));
