// Chromium for the browser tests: Debian's build driven by playwright-core,
// pages that record every console error, and screenshots of final pages.
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

/** Where tests save screenshots of their final pages. */
export const screenshotDir = path.join(tmpdir(), "stdrealtime-e2e");

/**
 * Launches headless Chromium (CHROMIUM overrides its path); args are added
 * to its command line.
 */
export function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", ...args],
    timeout: 60_000,
  });
}

/**
 * Opens a page in a new context and records its console errors and
 * uncaught exceptions in page.errors, as { text, url }. A test that
 * expects some (a request refused while its server restarts, say) passes
 * a filter that says which to let through; all others are kept.
 */
export async function newPage(browser, { expected = () => false } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.errors = [];
  page.expectedErrors = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const e = { text: msg.text(), url: msg.location().url };
    (expected(e) ? page.expectedErrors : page.errors).push(e);
  });
  page.on("pageerror", (err) => page.errors.push({ text: String(err.stack || err), url: page.url() }));
  return page;
}

/** Saves a full-page screenshot as <screenshotDir>/<name>.png and returns its path. */
export async function screenshot(page, name) {
  await mkdir(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, name.replace(/[^A-Za-z0-9._-]+/g, "-") + ".png");
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
