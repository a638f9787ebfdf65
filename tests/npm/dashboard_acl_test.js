// The dashboard with ACLs on, in headless Chromium (playwright-core): without a token it shows no
// service and says why; the token typed into "ACL token" unlocks what that token may read, stays
// for a reload (session storage), and "Forget" locks the page again. Run by
// tests/integration/dashboard_browser_test.cpp:
//
//   node dashboard_acl_test.js API_PORT ARTEFACT_DIR TOKEN
//
// Prints one JSON line with what it saw; exits 1 on failure (a screenshot and the HTML go to
// ARTEFACT_DIR). The browser's own "Failed to load resource: ... 401" lines are expected here;
// any other console error fails.
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [port, artefacts, token] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const seen = {};
const consoleErrors = [];

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  try {
    await page.goto(base + "/ui/");
    await page.waitForFunction(() => /token/.test(document.getElementById("live").textContent), null, { timeout: 10000 });
    seen.locked_status = await page.$eval("#live", (p) => p.textContent);
    seen.rows_without_token = await page.$$eval("tr[data-service]", (rows) => rows.length);
    if (seen.rows_without_token !== 0) throw new Error("services shown without a token");

    await page.fill("#token", token);
    await page.press("#token", "Enter");
    await page.waitForSelector('tr[data-service="web"]', { timeout: 10000 });
    seen.token_field_cleared = (await page.$eval("#token", (i) => i.value)) === "";

    await page.reload();
    await page.waitForSelector('tr[data-service="web"]', { timeout: 10000 });
    seen.kept_after_reload = true;

    await page.click("#logout");
    await page.waitForFunction(() => document.querySelectorAll("tr[data-service]").length === 0, null, { timeout: 10000 });
    seen.locked_again = true;
    if (consoleErrors.length) throw new Error("console errors: " + consoleErrors.join(" | "));
    seen.ok = true;
  } catch (e) {
    seen.ok = false;
    seen.error = String(e && e.stack ? e.stack : e);
    seen.console_errors = consoleErrors;
    try {
      fs.mkdirSync(artefacts, { recursive: true });
      await page.screenshot({ path: path.join(artefacts, "dashboard-acl-failure.png"), fullPage: true });
      fs.writeFileSync(path.join(artefacts, "dashboard-acl-failure.html"), await page.content());
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
