// The npm `consul` client against svckitd's Consul-compatible API, driven by
// tests/integration/consul_npm_test.cpp. Prints one JSON line with what it saw; exits non-zero on
// any error.
//   node consul_client.js PORT register NAME ID SERVICE_PORT   (HTTP check on SERVICE_PORT/health,
//                                                              then waits until it is passing)
//   node consul_client.js PORT discover NAME                   (passing instances + catalog)
//   node consul_client.js PORT deregister ID
//   node consul_client.js --token=SECRET PORT ...               (every request carries the ACL token)
"use strict";
const Consul = require("consul");

async function main() {
  let argv = process.argv.slice(2);
  let token = "";
  if (argv.length > 0 && argv[0].startsWith("--token=")) {
    token = argv[0].slice("--token=".length);
    argv = argv.slice(1);
  }
  const [port, verb, ...args] = argv;
  const options = { host: "127.0.0.1", port: Number(port) };
  if (token) options.defaults = { token };
  const consul = new Consul(options);
  if (verb === "register") {
    const [name, id, servicePort] = args;
    await consul.agent.service.register({
      name,
      id,
      address: "127.0.0.1",
      port: Number(servicePort),
      tags: ["node", "npm"],
      meta: { runtime: "node" },
      check: {
        http: `http://127.0.0.1:${servicePort}/health`,
        interval: "100ms",
        timeout: "1s",
      },
    });
    // svckitd runs the check; wait (bounded) until the service is passing.
    const deadline = Date.now() + 10000;
    for (;;) {
      const passing = await consul.health.service({ service: name, passing: true });
      if (passing.length > 0) {
        console.log(JSON.stringify({ passing }));
        return;
      }
      if (Date.now() > deadline) throw new Error(`${name} never turned passing`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } else if (verb === "discover") {
    const [name] = args;
    const passing = await consul.health.service({ service: name, passing: true });
    const catalog = await consul.catalog.service.nodes(name);
    const services = await consul.catalog.service.list();
    console.log(JSON.stringify({ passing, catalog, services }));
  } else if (verb === "deregister") {
    await consul.agent.service.deregister(args[0]);
    console.log(JSON.stringify({ deregistered: args[0] }));
  } else {
    throw new Error(`unknown verb ${verb}`);
  }
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
