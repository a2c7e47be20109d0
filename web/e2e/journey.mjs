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

/** What a row of the recordings table shows, by column. */
async function entryCells(row) {
  const cells = (await row.locator("td").allInnerTexts()).map((cell) => cell.trim());
  return {
    namespace: cells[0].split("\n")[0].trim(),
    operation: cells[1],
    model: cells[2],
    occurrence: cells[3],
    status: cells[5],
    hits: cells[8],
    lastHit: cells[9],
  };
}

/** The value of one labelled fact (<dt>/<dd>) in a container. */
async function factOf(container, label) {
  const value = container
    .locator("dt", { hasText: new RegExp(`^${label}$`) })
    .locator("xpath=following-sibling::dd[1]");
  return (await value.textContent())?.trim();
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

  // Recordings: the answer recorded by the first call, with the request it answered and its hit.
  await page.goto(base + "/proxies");
  await page.getByRole("link", { name: "e2e-openai" }).click();
  await byRole("tab", "Recordings").click();
  await page.waitForURL((url) => url.searchParams.get("tab") === "recordings");
  const proxyPage = new URL(page.url());
  const recordingsUrl = `${base}${proxyPage.pathname}?tab=recordings`;
  const entryRows = page.locator('[data-testid="recordings-table"] tbody tr[data-entry-key]');
  await entryRows.first().waitFor();
  assert.equal(await entryRows.count(), 1, "one request was recorded");
  const { lastHit, ...recorded } = await entryCells(entryRows.first());
  assert.deepEqual(recorded, {
    namespace: "default",
    operation: "chat",
    model: "gpt-4o-mini",
    occurrence: "1",
    status: "200",
    hits: "1",
  });
  assert.notEqual(lastHit, "Never", "the second call was a hit");
  const recordedKey = await entryRows.first().getAttribute("data-entry-key");
  assert.match(recordedKey, /^[0-9a-f]{64}$/);
  await shot("recordings-list");

  // The entry view: the request as the SDK sent it (no credentials) and the provider's answer.
  await entryRows
    .first()
    .getByRole("button", { name: /^Open entry / })
    .click();
  await page.waitForURL((url) => url.searchParams.get("entry") === recordedKey);
  const entryDialog = page.getByRole("dialog", { name: "Recorded entry" });
  await entryDialog.waitFor();
  const requestBody = JSON.parse(await entryDialog.getByLabel("Request body", { exact: true }).textContent());
  assert.deepEqual(requestBody.messages, [{ role: "user", content: "Hi" }]);
  assert.equal(requestBody.model, "gpt-4o-mini");
  await entryDialog.getByText("POST /v1/chat/completions", { exact: false }).waitFor();
  const entryText = (await entryDialog.textContent()) ?? "";
  assert.doesNotMatch(entryText, /sk-e2e|authorization|bearer/i, "credentials are never stored");
  const responseBody = JSON.parse(await entryDialog.getByLabel("Response body", { exact: true }).textContent());
  assert.equal(responseBody.object, "chat.completion");
  assert.ok(responseBody.choices?.length > 0, "the recorded answer has its choices");
  await entryDialog.getByText("Shown decoded from gzip", { exact: false }).waitFor(); // as the fake sent it
  assert.equal(await factOf(entryDialog, "Hits"), "1");
  assert.ok(entryText.includes(recordedKey), "the entry view names its key");
  await shot("recording-entry");
  await entryDialog.getByRole("button", { name: "Close", exact: true }).last().click();
  await entryDialog.waitFor({ state: "detached" });

  // Replay mode: switched in the cache settings, effective at once on the running proxy.
  const modes = page.getByRole("radiogroup", { name: "Cache mode" });
  assert.equal(await modes.getByRole("radio", { checked: true }).getAttribute("aria-checked"), "true");
  assert.match(await modes.getByRole("radio", { checked: true }).textContent(), /^Record/);
  await modes.getByRole("radio", { name: /^Replay/ }).click();
  await text("Unsaved changes").waitFor();
  await byRole("button", "Save cache settings").click();
  await toast("Cache settings saved: replay mode.").waitFor();
  await shot("recordings-replay-mode");

  // A prompt that was never recorded: the SDK gets a 404 replay_miss with the diff, the provider
  // nothing; the live log shows the miss with its differing path, and links to the recordings.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logs" }).click();
  await page.locator('[data-live-state="live"]').waitFor();
  const miss = await step("sdk_replay_miss", { port, content: "Hi again" });
  const missRow = await logRow('[data-status="404"][data-cache="miss"]');
  assert.equal(
    await page.locator('[data-testid="log-table"] tbody tr[data-status="404"]').count(),
    1,
    "the SDK did not retry the replay miss",
  );
  await missRow.getByText("replay miss", { exact: true }).waitFor();
  assert.equal(
    await missRow.getByText("replay miss", { exact: true }).getAttribute("title"),
    "Differs in messages[0].content",
  );
  await missRow.getByRole("button", { name: /^Details of request/ }).click();
  const missDetail = page.getByTestId("replay-miss");
  await missDetail.waitFor();
  assert.deepEqual(
    await missDetail.getByRole("list", { name: "Differing paths" }).getByRole("listitem").allTextContents(),
    ["messages[0].content"],
  );
  assert.ok(!(await page.getByTestId("log-table").textContent()).includes("Hi again"), "logs hold no values");
  if (miss.key) await text(miss.key).first().waitFor(); // the row's cache key is the one the SDK was told
  await shot("logs-replay-miss");
  // The row names the nearest recording, and its link opens that entry on the proxy's Recordings tab.
  await missDetail.getByRole("link", { name: "Open the nearest recording" }).click();
  await page.waitForURL(
    (url) =>
      url.pathname === proxyPage.pathname &&
      url.searchParams.get("tab") === "recordings" &&
      url.searchParams.get("entry") === recordedKey &&
      url.searchParams.get("occurrence") === "1",
  );
  assert.equal(await byRole("tab", "Recordings").getAttribute("aria-selected"), "true");
  await entryDialog.waitFor();
  const nearestBody = JSON.parse(await entryDialog.getByLabel("Request body", { exact: true }).textContent());
  assert.deepEqual(nearestBody.messages, [{ role: "user", content: "Hi" }], "the nearest recording is the one shown");
  assert.equal(await entryRows.first().getAttribute("data-entry-key"), recordedKey, "and it is listed");

  // Delete the entry from its view, after a confirmation: the list is empty.
  await entryDialog.getByRole("button", { name: "Delete entry", exact: true }).click();
  await entryDialog.getByText("Delete this entry?").waitFor();
  await shot("recording-delete-confirm");
  await entryDialog.getByRole("button", { name: "Delete", exact: true }).click();
  await toast("Deleted the entry (occurrence 1).").waitFor();
  await entryDialog.waitFor({ state: "detached" });
  await entryRows.first().waitFor({ state: "detached" });
  await page.getByText(/^(Nothing recorded yet|No entries match these filters)$/).waitFor();
  await shot("recording-deleted");

  // Back to record mode; one call in the default namespace and one in a namespace of its own (the
  // /_ns/ prefix of the base URL) are two entries; clearing that namespace leaves the other.
  await modes.getByRole("radio", { name: /^Record/ }).click();
  await byRole("button", "Save cache settings").click();
  await toast("Cache settings saved: record mode.").waitFor();
  await step("sdk_calls", { port, count: 1, expect: "ok" });
  await step("sdk_calls", { port, count: 1, expect: "ok", namespace: "e2e-suite" });
  await page.goto(recordingsUrl);
  await entryRows.nth(1).waitFor();
  assert.deepEqual(
    (await Promise.all((await entryRows.all()).map(entryCells))).map((cells) => cells.namespace).sort(),
    ["default", "e2e-suite"],
  );
  await byRole("button", "Clear namespace…").click();
  const clearDialog = page.getByRole("dialog", { name: "Clear a namespace?" });
  await clearDialog.getByLabel("Namespace", { exact: true }).fill("e2e-suite");
  await shot("recordings-clear-namespace");
  await clearDialog.getByRole("button", { name: "Clear namespace", exact: true }).click();
  await toast("Deleted 1 entry from namespace e2e-suite.").first().waitFor();
  await clearDialog.waitFor({ state: "detached" });
  await page.locator('[data-testid="recordings-table"] tbody tr[data-entry-key]').nth(1).waitFor({ state: "detached" });
  assert.equal(await entryRows.count(), 1);
  assert.equal((await entryCells(entryRows.first())).namespace, "default");
  assert.equal((await entryCells(entryRows.first())).hits, "0");
  await shot("recordings-namespace-cleared");

  // Switch on a 429 fault for every request.
  await page.goto(recordingsUrl.replace("tab=recordings", "tab=failure"));
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
  // Two SDK calls, the 429, the replay miss and the two calls after it.
  await toast("Deleted 6 log entries.").waitFor();
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
