// Swagger UI in a real browser: open /swagger-ui, expand the ingest operation, "Try it out" with
// the seed example, expect 200, then find the metric in /prometheus-metrics. With MCA_API_KEY (the
// service has API_KEYS_FILE): the first Execute must be refused with 401, then the key is entered
// under Authorize (bearer) and Execute must succeed.
//
// Usage: [MCA_API_KEY=key] node browser_test.mjs BASE_URL OUTPUT_DIR   (Debian's chromium at
// /usr/bin/chromium, or CHROMIUM=path). Prints "N passed, N failed"; exits non-zero on a failure.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, outDir] = process.argv.slice(2);
if (!baseUrl || !outDir) {
  console.error("usage: node browser_test.mjs BASE_URL OUTPUT_DIR");
  process.exit(2);
}
const APP_ID = "swagger-ui-browser-test";
const API_KEY = process.env.MCA_API_KEY || "";
const SEED = {
  metrics: [
    {
      name: "cpu_usage",
      value: 75.5,
      timestamp: 1640995200000,
      tags: { host: "server1", environment: "production" },
      profileId: "user-123",
    },
  ],
};

mkdirSync(outDir, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), "mca-chromium-"));
const origin = new URL(baseUrl).origin;
const foreignRequests = [];
const pageErrors = [];
let context;
let passed = 0;
let failed = 0;

async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack ? e.stack : e).replace(/\n/g, "\n  ")}`);
    throw e;
  }
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 1600 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) foreignRequests.push(url);
  });
  page.on("pageerror", (err) => pageErrors.push(String(err)));

  await step("the page loads the service's own document, every operation shown", async () => {
    await page.goto(`${baseUrl}/swagger-ui`);
    await page.locator(".information-container .title").filter({ hasText: "Metrics Collection API" }).waitFor();
    for (const id of ["metrics-ingestMetrics", "metrics-getAppMetrics", "health-getAppHealth",
                      "monitoring-getPrometheusMetrics", "docs-getSwaggerUi"]) {
      await page.locator(`#operations-${id}`).waitFor();
    }
  });

  const op = page.locator("#operations-metrics-ingestMetrics");
  await step("Try it out on the ingest operation offers the seed example", async () => {
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    const body = op.locator("textarea.body-param__text");
    await body.waitFor();
    const shown = JSON.parse(await body.inputValue());
    if (JSON.stringify(shown) !== JSON.stringify(SEED)) {
      throw new Error(`the request body example is not the seed: ${JSON.stringify(shown)}`);
    }
    await op.locator('tr[data-param-name="app_id"] input').fill(APP_ID);
  });

  // The status and body of the latest Execute (Swagger UI replaces the live response each time).
  async function execute() {
    const live = op.locator(".live-responses-table tbody .response-col_status").first();
    const before = await op.locator(".live-responses-table").count() ? await live.innerText() : null;
    await op.locator("button.execute").click();
    await live.waitFor();
    const deadline = Date.now() + 20_000;
    let status = (await live.innerText()).trim();
    while (before !== null && status === before.trim() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));  // until the new response replaced the old one
      status = (await live.innerText()).trim();
    }
    const body = await op.locator(".live-responses-table tbody .response-col_description pre").first().innerText();
    return { status, body };
  }

  if (API_KEY) {
    await step("without a key, Execute is refused with 401 unauthorized", async () => {
      const { status, body } = await execute();
      if (status !== "401") throw new Error(`status ${status}: ${body}`);
      if (JSON.parse(body).error.code !== "unauthorized") throw new Error(body);
    });

    await step("Authorize takes the key as a bearer token", async () => {
      await page.locator(".auth-wrapper button.authorize").click();
      const bearer = page.locator(".auth-container").filter({ hasText: "bearerAuth" });
      await bearer.locator("input").first().fill(API_KEY);
      await bearer.locator("button.modal-btn.auth.authorize").click();
      await bearer.getByText("Authorized").first().waitFor();
      await page.locator(".modal-ux button.btn-done").first().click();
      await page.locator(".modal-ux").waitFor({ state: "detached" });
    });
  }

  await step("Execute sends it and the service answers 200 with accepted 1", async () => {
    const { status, body: responseBody } = await execute();
    await op.screenshot({ path: join(outDir, "swagger-ui-ingest-try-it-out.png") });
    await page.screenshot({ path: join(outDir, "swagger-ui-page.png"), fullPage: true });
    if (status !== "200") throw new Error(`status ${status}: ${responseBody}`);
    const parsed = JSON.parse(responseBody);
    if (parsed.accepted !== 1 || parsed.rejected.length !== 0) throw new Error(responseBody);
  });

  await step("the metric appears in /prometheus-metrics", async () => {
    const want = new RegExp(
      `^client_metric_cpu_usage\\{(?=[^}]*app_id="${APP_ID}")(?=[^}]*host="server1")` +
        `(?=[^}]*environment="production")[^}]*\\} 75\\.5( \\d+)?$`, "m");
    const deadline = Date.now() + 20_000;
    let text = "";
    while (Date.now() < deadline) {
      const res = await context.request.get(`${baseUrl}/prometheus-metrics`, {
        headers: API_KEY ? { Authorization: `Bearer ${API_KEY}` } : {},
      });
      text = await res.text();
      if (res.status() === 200 && want.test(text)) return;
      await new Promise((r) => setTimeout(r, 100));  // polling the consumer, bounded by the deadline
    }
    throw new Error(`no ${want} in /prometheus-metrics:\n${text.slice(0, 2000)}`);
  });

  await step("nothing was fetched from another origin and the page raised no error", async () => {
    if (foreignRequests.length) throw new Error(`requests to other origins: ${foreignRequests.join(", ")}`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  });
} catch (e) {
  if (!failed) {
    failed++;
    console.log(`not ok - browser set-up\n  ${e && e.stack ? e.stack : e}`);
  }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
