// The npm `nacos` config client against svckitd's Nacos-compatible config API, driven by
// tests/integration/nacos_npm_test.cpp:
//   node nacos_config_client.js SVCKITD_PORT DATA_ID
// Publishes DATA_ID = "v=1", reads it back and prints one JSON line; subscribes, and prints a line
// for each new content it is told of ("v=2", then "v=1" again); exits after the third line.
"use strict";
const { NacosConfigClient } = require("nacos");

const [port, dataId] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (...a) => console.error(...a) };
setTimeout(() => { console.error("timed out"); process.exit(1); }, 60000);

async function main() {
  const client = new NacosConfigClient({ serverAddr: `127.0.0.1:${port}`, logger: quiet });
  await client.ready();
  const published = await client.publishSingle(dataId, "DEFAULT_GROUP", "v=1");
  const got = await client.getConfig(dataId, "DEFAULT_GROUP");
  console.log(JSON.stringify({ published, got }));
  const seen = [];
  client.subscribe({ dataId, group: "DEFAULT_GROUP" }, (content) => {
    if (seen.length > 0 && seen[seen.length - 1] === content) return;
    if (seen.length === 0 && content === "v=1") return;  // the content it had
    seen.push(content);
    console.log(JSON.stringify({ changed: content }));
    if (seen.length === 2) {
      client.close();
      process.exit(0);
    }
  });
}

main().catch((err) => { console.error(`nacos config client failed: ${err && err.stack ? err.stack : err}`); process.exit(1); });
