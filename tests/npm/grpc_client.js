// A third-party gRPC client (@grpc/grpc-js) calling the demo shop's ProductService, found through
// svckitd's registry API, driven by tests/grpc/grpc_test.cpp. Prints one JSON line with what it
// saw; exits non-zero on any error.
//   node grpc_client.js SVCKITD_PORT PROTO_DIR PRODUCT_ID...
// For each healthy product-grpc instance svckitd lists, it asks grpc.health.v1 Health/Check and
// calls GetProduct for every id (a missing product answers NOT_FOUND, reported as its code).
"use strict";
const http = require("http");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

function getJson(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body}`));
          resolve(JSON.parse(body));
        });
      })
      .on("error", reject);
  });
}

function unary(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: Date.now() + 5000 }, (err, reply) => {
      resolve(err ? { code: grpc.status[err.code], message: err.details } : { code: "OK", reply });
    });
  });
}

async function main() {
  const [port, protoDir, ...ids] = process.argv.slice(2);
  const load = (file) =>
    grpc.loadPackageDefinition(
      protoLoader.loadSync(file, { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true }),
    );
  const demo = load("svckit/demo/product.proto").svckit.demo;
  const health = load("grpc/health/v1/health.proto").grpc.health.v1;
  const listed = await getJson(Number(port), "/v1/services/product-grpc/instances?status=healthy");
  const out = { instances: [] };
  for (const instance of listed.instances) {
    const address = `${instance.host}:${instance.port}`;
    const products = new demo.ProductService(address, grpc.credentials.createInsecure());
    const checker = new health.Health(address, grpc.credentials.createInsecure());
    const seen = { id: instance.id, address, health: await unary(checker, "Check", { service: "" }), calls: [] };
    for (const id of ids) seen.calls.push(await unary(products, "GetProduct", { product_id: id }));
    products.close();
    checker.close();
    out.instances.push(seen);
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
