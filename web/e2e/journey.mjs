// The end-to-end journey through the web UI in a real headless Chromium.
//
// Started by tests/e2e/test_web_ui.py, which runs a real `rubberduck serve`, a fake OpenAI upstream
// and a real SMTP mailbox. Whatever happens outside the browser (reading an e-mail, calling the proxy
// with the official OpenAI SDK) is asked of the Python side: this script prints `@@step {json}` and
// reads one JSON line back on stdin.
//
// Environment: RD_BASE_URL, RD_UPSTREAM_URL, RD_OUTPUT_DIR (screenshots), CHROMIUM (executable).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const base = required("RD_BASE_URL");
const upstream = required("RD_UPSTREAM_URL");
const output = required("RD_OUTPUT_DIR");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const email = "founder@example.com";
const password = "a-long-and-fine-password";
const newPassword = "another-fine-password-2";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// ---- the line protocol with the Python side -------------------------------------------------------
const replies = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function step(op, args = {}) {
  process.stdout.write(`@@step ${JSON.stringify({ op, ...args })}\n`);
  const { value, done } = await replies.next();
  if (done) throw new Error(`the test harness closed stdin during ${op}`);
  const reply = JSON.parse(value);
  if (!reply.ok) throw new Error(`step ${op} failed on the Python side: ${reply.error}`);
  return reply;
}

function log(message) {
  process.stdout.write(`${message}\n`);
}

// ---- browser ---------------------------------------------------------------------------------------
mkdirSync(output, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "rubberduck-e2e-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
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
  viewport: { width: 1280, height: 860 },
  acceptDownloads: true,
});
context.setDefaultTimeout(15_000);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on("console", (message) => {
  // Chromium reports every 4xx answer as a console error; the ones this journey provokes on purpose
  // (a refused sign-in) are not bugs. Anything else is.
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    consoleErrors.push(message.text());
  }
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));

let shots = 0;
/** A screenshot of the whole page: the viewport grows to the page so fixed parts render once. */
async function shot(name) {
  await page.waitForTimeout(250); // let transitions settle
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: size.width, height: Math.max(size.height, Math.min(height, 4000)) });
  const file = join(output, `${String(++shots).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  await page.setViewportSize(size);
  log(`screenshot ${file}`);
}

const byRole = (role, name) => page.getByRole(role, { name, exact: true });
const text = (value) => page.getByText(value, { exact: false });
const toast = (value) => page.getByRole("status").filter({ hasText: value });

async function fill(label, value) {
  await page.getByLabel(label, { exact: true }).fill(value);
}

async function proxyStatus(expected) {
  await page.locator(`[data-testid="proxy-status"] [data-status="${expected}"]`).waitFor();
}

async function logRow(selector) {
  const row = page.locator(`[data-testid="log-table"] tbody tr${selector}`).first();
  await row.waitFor();
  return row;
}

async function journey() {
  // Sign-in page of a brand-new server: it offers to create the first account.
  await page.goto(base + "/");
  await page.waitForURL("**/login");
  await text("No one has signed up yet").waitFor();
  await shot("sign-in");

  // Register; the password rules are checked before anything is sent.
  await page.getByRole("link", { name: "Create the first account" }).click();
  await byRole("heading", "Create your account").waitFor();
  await fill("Email", email);
  await fill("Password", "short");
  await fill("Confirm password", "different");
  await byRole("button", "Create account").click();
  await text("Use at least 8 characters.").waitFor();
  await text("The passwords do not match.").waitFor();
  await shot("register-validation");
  await fill("Password", password);
  await fill("Confirm password", password);
  await byRole("button", "Create account").click();
  await byRole("heading", "Check your inbox").waitFor();
  await shot("check-inbox");

  // Signing in before verifying is refused, in words.
  await page.goto(base + "/login");
  await fill("Email", email);
  await fill("Password", password);
  await byRole("button", "Sign in").click();
  await text("This email address is not verified yet").waitFor();

  // The link from the e-mail verifies the address.
  const { token } = await step("mail_token", { to: email, subject: "Confirm", page: "/verify-email" });
  await page.goto(`${base}/verify-email?token=${encodeURIComponent(token)}`);
  await text("Your email address is verified").waitFor();
  await shot("email-verified");

  // Sign in: the dashboard of an empty account.
  await page.getByRole("link", { name: "Sign in" }).click();
  await fill("Email", email);
  await fill("Password", password);
  await byRole("button", "Sign in").click();
  await byRole("heading", "Dashboard").waitFor();
  await text("No requests in the last hour").waitFor();
  await shot("dashboard-empty");

  // Create a proxy: validation first, then the real thing.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Proxies" }).click();
  await text("No proxies yet").waitFor();
  await shot("proxies-empty");
  await page.getByRole("button", { name: "New proxy" }).first().click();
  const dialog = page.getByRole("dialog", { name: "New proxy" });
  await dialog.waitFor();
  const providers = await dialog.getByLabel("Provider").locator("option").allTextContents();
  assert.ok(providers.includes("OpenAI") && providers.includes("Anthropic"), `providers: ${providers}`);
  await dialog.getByLabel("Upstream URL").fill("ftp://nowhere");
  await dialog.getByLabel("Port").fill("70000");
  await dialog.getByRole("button", { name: "Create proxy" }).click();
  await dialog.getByText("Give the proxy a name.").waitFor();
  await dialog.getByText("Use an http:// or https:// URL.").waitFor();
  await dialog.getByText("A port is a whole number from 1024 to 65535.").waitFor();
  await shot("new-proxy-validation");
  await dialog.getByLabel("Name").fill("e2e-openai");
  await dialog.getByLabel("Provider").selectOption({ label: "OpenAI" });
  await dialog.getByLabel("Upstream URL").fill(upstream);
  await dialog.getByLabel("Port").fill("");
  await dialog.getByLabel("Model").fill("gpt-4o-mini");
  await dialog.getByRole("button", { name: "Create proxy" }).click();
  await byRole("heading", "e2e-openai").waitFor();
  await proxyStatus("stopped");

  // Start it; the SDK snippet names its port.
  await page.getByRole("button", { name: "Start e2e-openai" }).click();
  await proxyStatus("running");
  const snippet = await page.getByTestId("sdk-snippet").textContent();
  const port = Number(/127\.0\.0\.1:(\d+)\/v1/.exec(snippet ?? "")?.[1]);
  assert.ok(port > 0, `no proxy URL in the snippet: ${snippet}`);
  assert.match(snippet, /from openai import OpenAI/);
  assert.match(snippet, /model="gpt-4o-mini"/);
  await shot("proxy-running");

  // The live log: two identical SDK calls arrive without a reload, the second one a cache hit.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logs" }).click();
  await page.locator('[data-live-state="live"]').waitFor();
  await text("No requests yet").waitFor();
  await step("sdk_calls", { port, count: 2, expect: "ok" });
  await logRow('[data-cache="miss"][data-status="200"]');
  await logRow('[data-cache="hit"][data-status="200"]');
  assert.equal(await page.locator('[data-testid="log-table"] tbody tr[data-log-id]').count(), 2);
  const newest = page.locator('[data-testid="log-table"] tbody tr[data-log-id]').first();
  assert.equal(await newest.getAttribute("data-cache"), "hit", "the newest row comes first");
  await newest.getByRole("button").click(); // the details of one request
  await text("Cache key").waitFor();
  await shot("logs-live");

  // Switch on a 429 fault for every request.
  await page.goto(base + "/proxies");
  await page.getByRole("link", { name: "e2e-openai" }).click();
  await byRole("tab", "Failure simulation").click();
  await text("nothing; requests pass untouched").waitFor();
  await byRole("button", "Add an error").click();
  const chance = page.getByLabel("Chance", { exact: true }).first();
  assert.equal(await page.getByLabel("Status", { exact: true }).first().inputValue(), "429");
  await chance.fill("150");
  await byRole("button", "Save failure settings").click();
  await text("Use a percentage from 0 to 100.").waitFor();
  await chance.fill("100");
  await byRole("button", "Save failure settings").click();
  await toast("Failure simulation saved: 100% 429.").waitFor();
  await shot("failure-simulation");

  // The fault shows up in the live log, and the fault filter finds it.
  await page.goto(base + "/logs");
  await page.locator('[data-live-state="live"]').waitFor();
  await step("sdk_calls", { port, count: 1, expect: "429" });
  await logRow('[data-status="429"][data-fault="error_429"]');
  await page.getByLabel("Fault", { exact: true }).selectOption({ label: "Error 429" });
  await page.waitForURL((url) => url.searchParams.get("fault") === "error_429");
  await page.locator('[data-testid="log-table"] tbody tr[data-status="200"]').first().waitFor({ state: "detached" });
  assert.equal(await page.locator('[data-testid="log-table"] tbody tr[data-log-id]').count(), 1);
  await shot("logs-fault-filter");

  // Export what the filter shows, as CSV and as JSON files.
  const [csv] = await Promise.all([page.waitForEvent("download"), byRole("button", "Export CSV").click()]);
  const csvLines = readFileSync(await csv.path(), "utf8")
    .trim()
    .split(/\r?\n/);
  assert.match(csvLines[0], /status/);
  assert.equal(csvLines.length, 2, `one header and the one 429 row: ${csvLines}`);
  assert.match(csvLines[1], /error_429/);
  const [exported] = await Promise.all([page.waitForEvent("download"), byRole("button", "Export JSON").click()]);
  const rows = JSON.parse(readFileSync(await exported.path(), "utf8"));
  assert.deepEqual(
    rows.map((row) => [row.status, row.fault]),
    [[429, "error_429"]],
  );

  // Clear the cache: one entry went.
  await page.goto(base + "/proxies");
  await page.getByRole("link", { name: "e2e-openai" }).click();
  await byRole("button", "Clear cache").click();
  await page.getByRole("dialog", { name: "Clear the cache?" }).getByRole("button", { name: "Clear cache" }).click();
  await toast("Cleared 1 cache entry from e2e-openai.").waitFor();
  await shot("cache-cleared");

  // Stop the proxy; its port stops answering.
  await page.getByRole("button", { name: "Stop e2e-openai" }).click();
  await proxyStatus("stopped");
  await step("port_closed", { port });
  await shot("proxy-stopped");

  // The dashboard now has numbers and charts.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
  await page.locator('[data-stat="Requests / min"]').waitFor();
  await page.getByRole("img", { name: "Requests chart" }).waitFor();
  assert.match(await page.locator('[data-stat="Cache hit rate"]').textContent(), /^\d+(\.\d)?%$/);
  assert.equal(await page.locator('[data-stat="Running proxies"]').textContent(), "0");
  await shot("dashboard");

  // Settings: the first account is the administrator.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  await byRole("heading", "Registration").waitFor();
  await page.getByLabel("Keep request logs for").fill("30");
  await byRole("button", "Save settings").click();
  await toast("Settings saved.").waitFor();
  await shot("settings");

  // A phone-sized screen: the sidebar becomes a drawer.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + "/logs?fault=");
  await page.locator('[data-testid="log-table"]').waitFor();
  await shot("mobile-logs");
  await page.getByRole("button", { name: "Open navigation" }).click();
  await page.getByRole("dialog", { name: "Navigation" }).waitFor();
  await shot("mobile-navigation");
  await page.getByRole("dialog", { name: "Navigation" }).getByRole("link", { name: "Dashboard" }).click();
  await byRole("heading", "Dashboard").waitFor();
  await shot("mobile-dashboard");
  await page.setViewportSize({ width: 1280, height: 860 });

  // Purge the logs, after a confirmation.
  await page.goto(base + "/logs");
  await page.locator('[data-testid="log-table"]').waitFor();
  await byRole("button", "Purge…").click();
  await page.getByRole("dialog", { name: "Purge logs" }).getByRole("button", { name: "Continue" }).click();
  await page.getByRole("dialog", { name: "Delete these logs?" }).getByRole("button", { name: "Delete logs" }).click();
  await toast("Deleted 3 log entries.").waitFor();
  await text("No requests yet").waitFor();
  await shot("logs-purged");

  // Forgot the password: the e-mailed link sets a new one, and it works.
  await byRole("button", "Sign out").click();
  await page.waitForURL("**/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await fill("Email", email);
  await byRole("button", "Send reset link").click();
  await text("a reset link is on its way").waitFor();
  await shot("forgot-password");
  const reset = await step("mail_token", { to: email, subject: "Reset", page: "/reset-password" });
  await page.goto(`${base}/reset-password?token=${encodeURIComponent(reset.token)}`);
  await fill("New password", newPassword);
  await fill("Confirm new password", newPassword);
  await byRole("button", "Change password").click();
  await text("Your password has been changed").waitFor();
  await shot("reset-password");
  await page.getByRole("link", { name: "Go to sign in" }).click();
  await fill("Email", email);
  await fill("Password", password);
  await byRole("button", "Sign in").click();
  await text("The email or password is incorrect").waitFor();
  await fill("Password", newPassword);
  await byRole("button", "Sign in").click();
  await byRole("heading", "Dashboard").waitFor();

  assert.deepEqual(consoleErrors, [], "the browser console stayed free of errors");
}

let failed = false;
const watchdog = setTimeout(() => {
  log("the journey took longer than 4 minutes");
  process.exit(3);
}, 240_000);
try {
  await journey();
  log("journey passed");
} catch (error) {
  failed = true;
  log(`journey failed: ${error?.stack ?? error}`);
  log(`console errors: ${JSON.stringify(consoleErrors)}`);
  try {
    await page.screenshot({ path: join(output, "failure.png"), fullPage: true });
    log(`screenshot ${join(output, "failure.png")}`);
  } catch {
    // the browser may be gone
  }
} finally {
  clearTimeout(watchdog);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
