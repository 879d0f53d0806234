// Opens one page in headless Chromium, driven by playwright-core, and waits
// for the page to finish its WebSocket exchanges with the Go server that
// served it. The Go test in this directory runs it and checks what the
// server saw.
//
//   node chromium_ws.mjs URL
//
// The page sets window.results once every connection it made has closed.
// The script prints one JSON object on stdout:
//   {"results":[...],"errors":[{"text":T,"url":U}],"userAgent":UA}
// where errors are the page's console errors and uncaught exceptions, and
// exits 0; it exits 1, with the reason on stderr, when the page could not
// be loaded or did not finish in time. CHROMIUM overrides the browser's
// path, /usr/bin/chromium by default.

import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url) {
  console.error("usage: chromium_ws.mjs URL");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless", "--disable-gpu"],
  timeout: 60_000,
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push({ text: msg.text(), url: msg.location().url });
  });
  page.on("pageerror", (err) => errors.push({ text: String(err.stack || err), url: page.url() }));
  await page.goto(url, { timeout: 60_000 });
  await page.waitForFunction(() => window.results !== undefined, null, { timeout: 180_000, polling: 100 });
  const results = await page.evaluate(() => window.results);
  const userAgent = await page.evaluate(() => navigator.userAgent);
  process.stdout.write(JSON.stringify({ results, errors, userAgent }) + "\n");
} catch (err) {
  console.error(String(err.stack || err));
  process.exitCode = 1;
} finally {
  await browser.close();
}
