// The npm `eureka-js-client` against svckitd's Eureka-compatible API, driven by
// tests/integration/eureka_npm_test.cpp:
//   node eureka_client.js SVCKITD_PORT APP INSTANCE_ID INSTANCE_PORT FIND_APP STOP_FILE
// Registers APP (heartbeats and registry fetches every 200 ms), waits for two heartbeats and until
// its registry holds FIND_APP, prints one JSON line with what it saw, then waits until STOP_FILE
// exists, stops (which deregisters) and prints a second line. Exits non-zero on any error.
"use strict";
const fs = require("fs");
const { Eureka } = require("eureka-js-client");

const [port, app, instanceId, instancePort, findApp, stopFile] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (...a) => console.error(...a) };

const client = new Eureka({
  logger: quiet,
  cwd: __dirname,
  instance: {
    app,
    instanceId,
    hostName: "localhost",
    ipAddr: "127.0.0.1",
    port: { $: Number(instancePort), "@enabled": true },
    vipAddress: app.toLowerCase(),
    statusPageUrl: `http://127.0.0.1:${instancePort}/info`,
    healthCheckUrl: `http://127.0.0.1:${instancePort}/health`,
    metadata: { runtime: "node" },
    dataCenterInfo: { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", name: "MyOwn" },
    leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 },
  },
  eureka: {
    host: "127.0.0.1",
    port: Number(port),
    servicePath: "/eureka/apps/",
    heartbeatInterval: 200,
    registryFetchInterval: 200,
    maxRetries: 0,
  },
});

const deadline = Date.now() + 20000;
let heartbeats = 0;
client.on("heartbeat", () => { heartbeats += 1; });

function fail(why) {
  console.error(why);
  process.exit(1);
}

function shown(instances) {
  return instances.map((i) => ({
    app: i.app, instanceId: i.instanceId, ipAddr: i.ipAddr, port: i.port.$, status: i.status,
    vipAddress: i.vipAddress, metadata: i.metadata,
  }));
}

client.start((error) => {
  if (error) fail(`start failed: ${error}`);
  const seen = () => {
    const found = client.getInstancesByAppId(findApp.toUpperCase());
    if (heartbeats >= 2 && found.length > 0) {
      const self = client.getInstancesByAppId(app.toUpperCase());
      console.log(JSON.stringify({ heartbeats, found: shown(found), self: shown(self),
                                   by_vip: shown(client.getInstancesByVipAddress(findApp.toLowerCase())) }));
      const waitStop = () => {
        if (fs.existsSync(stopFile)) {
          client.stop((stopError) => {
            if (stopError) fail(`stop failed: ${stopError}`);
            console.log(JSON.stringify({ stopped: true }));
            process.exit(0);
          });
        } else if (Date.now() > deadline + 40000) {
          fail("never told to stop");
        } else {
          setTimeout(waitStop, 50);
        }
      };
      waitStop();
      return;
    }
    if (Date.now() > deadline) fail(`gave up: heartbeats=${heartbeats} found=${found.length}`);
    setTimeout(seen, 50);
  };
  seen();
});
