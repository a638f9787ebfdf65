// The dashboard in a real browser (Debian's Chromium, headless, driven by playwright-core): what a
// user does, step by step. Run by tests/integration/dashboard_browser_test.cpp:
//
//   node dashboard_test.js API_PORT ARTEFACT_DIR VICTIM_PID ORDER_PORT GATEWAY_PORT
//
// Steps: the demo's services are listed; an instance registered over HTTP (as curl would) appears
// without a reload; the instance process VICTIM_PID is SIGKILLed and its service page shows it
// unhealthy without a reload; a service page shows check results; an instance nobody listens at is
// ejected by the gateway's outlier detection and its service page says so; the gateway page renders; an
// order placed at order-service (ORDER_PORT) shows as a trace whose waterfall spans three services; a
// config version is rolled back after confirming (and cancelling first changes nothing); the page
// logs no console error. On failure a screenshot and the page's HTML go to ARTEFACT_DIR. Prints one
// JSON line with what it saw; exits 1 on failure.
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [port, artefacts, victimPid, orderPort, gatewayPort] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const seen = {};
const consoleErrors = [];

async function api(method, target, body) {
  const res = await fetch(base + target, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${target}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  try {
    // 1. The demo's services are listed.
    await page.goto(base + "/");
    await page.waitForSelector('tr[data-service="product-service"]', { timeout: 15000 });
    await page.waitForSelector('tr[data-service="user-service"]');
    seen.services = await page.$$eval("tr[data-service]", (rows) => rows.map((r) => r.dataset.service));

    // 2. An instance registered over HTTP appears without a reload.
    const marker = await page.evaluate(() => { window.__marker = Math.random(); return window.__marker; });
    await api("POST", "/v1/instances", { service: "late-service", id: "late-1", host: "127.0.0.1", port: 9, tags: ["canary"] });
    await page.waitForSelector('tr[data-service="late-service"]', { timeout: 10000 });
    seen.reloaded = (await page.evaluate(() => window.__marker)) !== marker;
    if (seen.reloaded) throw new Error("the page reloaded");

    // 3. Keyboard: the service's link is reachable and opens its page; its checks show results.
    await page.click('tr[data-service="product-service"] a');
    await page.waitForSelector("tr[data-instance]");
    await page.waitForSelector("tr[data-instance] .timeline span", { timeout: 10000 });
    seen.product_instances = await page.$$eval("tr[data-instance]", (rows) => rows.length);

    // 4. One instance is killed: its row turns unhealthy without a reload.
    const victim = await api("GET", "/v1/services/product-service/instances");
    process.kill(Number(victimPid), "SIGKILL");
    await page.waitForFunction(() => [...document.querySelectorAll("tr[data-instance] .badge")].some((b) => b.textContent === "unhealthy"),
      null, { timeout: 20000 });
    seen.unhealthy_shown = true;
    seen.still_same_page = (await page.evaluate(() => window.__marker)) === marker;
    if (!seen.still_same_page) throw new Error("the page reloaded");
    seen.instances_before_kill = victim.instances.length;

    // 4b. late-service's one instance (port 9: nobody listens) fails five requests through the
    // gateway in a row: outlier detection ejects it, and its page shows that without a reload.
    await page.evaluate(() => { location.hash = "#/services/late-service"; });
    await page.waitForSelector('tr[data-instance="late-1"]');
    for (let i = 0; i < 5; i++) await fetch(`http://127.0.0.1:${gatewayPort}/late-service/x`);
    await page.waitForFunction(() => {
      const cell = document.querySelector('td[data-gateway="late-1"]');
      return cell && cell.textContent.includes("ejected") && cell.textContent.includes("back in");
    }, null, { timeout: 15000 });
    seen.ejection_shown = await page.$eval('td[data-gateway="late-1"]', (c) => c.textContent);

    // 5. The gateway page renders its table.
    await page.click('nav a[data-section="gateway"]');
    await page.waitForSelector("h2:text('Gateway')");
    await page.waitForSelector("table caption:text('Gateway traffic')");

    // 5b. An order is one trace across order-, product- and user-service: listed, then a waterfall.
    const order = await fetch(`http://127.0.0.1:${orderPort}/orders/77?product=5&user=6`);
    if (!order.ok) throw new Error("the order failed: " + order.status);
    await page.click('nav a[data-section="traces"]');
    const link = await page.waitForSelector('tr[data-trace] a:text("GET /orders/{id}")', { timeout: 15000 });
    await link.click();
    await page.waitForFunction(() => new Set([...document.querySelectorAll("tr[data-span]")].map((r) => r.dataset.service)).size >= 3,
      null, { timeout: 30000 });
    seen.trace_services = await page.$$eval("tr[data-span]", (rows) => [...new Set(rows.map((r) => r.dataset.service))].sort());
    seen.trace_spans = await page.$$eval("tr[data-span]", (rows) => rows.length);
    if (seen.trace_spans < 7) throw new Error("the order's trace has " + seen.trace_spans + " spans");

    // 6. Config: two versions, a diff, a rollback that is cancelled, then confirmed.
    await api("PUT", "/v1/config", { feature: { search: true }, limit: 10 });
    await api("PUT", "/v1/config/keys/limit", 20);
    await page.click('nav a[data-section="config"]');
    await page.waitForSelector('tr[data-version="1"] button');
    await page.waitForFunction(() => document.getElementById("diff").textContent.includes('+   "limit": 20'));
    seen.diff = await page.$eval("#diff", (d) => d.textContent);
    const before = (await api("GET", "/v1/config/history")).versions.length;
    await page.click('tr[data-version="1"] button');
    await page.waitForSelector("dialog[open]");
    seen.dialog_text = await page.$eval("#confirm-text", (p) => p.textContent);
    await page.click("#confirm-cancel");
    const afterCancel = await api("GET", "/v1/config/history");
    if (afterCancel.versions.length !== before) throw new Error("cancelling rolled back anyway");
    await page.click('tr[data-version="1"] button');
    await page.waitForSelector("dialog[open]");
    await page.click("#confirm-ok");
    await page.waitForSelector("#config-message");
    seen.message = await page.$eval("#config-message", (p) => p.textContent);
    const doc = await api("GET", "/v1/config");
    if (doc.limit !== 10) throw new Error("the rollback did not restore version 1: " + JSON.stringify(doc));
    if ((await api("GET", "/v1/config/history")).versions.length !== before + 1) throw new Error("no new version");
    seen.rolled_back_limit = doc.limit;

    // 7. A narrow (phone) viewport still shows the services table without horizontal page scroll.
    await page.setViewportSize({ width: 390, height: 800 });
    await page.click('nav a[data-section="services"]');
    await page.waitForSelector('tr[data-service="late-service"]');
    seen.page_scrolls_sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    if (seen.page_scrolls_sideways) throw new Error("the page is wider than a phone");

    if (consoleErrors.length) throw new Error("console errors: " + consoleErrors.join(" | "));
    seen.ok = true;
  } catch (e) {
    seen.ok = false;
    seen.error = String(e && e.stack ? e.stack : e);
    seen.console_errors = consoleErrors;
    try {
      fs.mkdirSync(artefacts, { recursive: true });
      await page.screenshot({ path: path.join(artefacts, "dashboard-failure.png"), fullPage: true });
      fs.writeFileSync(path.join(artefacts, "dashboard-failure.html"), await page.content());
    } catch (_) { /* best effort */ }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
  process.exit(seen.ok ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
  process.exit(1);
});
