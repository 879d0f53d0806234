// The echo example's page over HTTPS in a real browser: with extended
// CONNECT advertised (GODEBUG=http2xconnect=1), Chromium carries the
// page's WebSocket over the page's HTTP/2 connection, which the server
// sees as a CONNECT over HTTP/2; without it, the same page falls back to
// a WebSocket over HTTP/1.1 and works just the same.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { buildExample, removeBuilds, startExample } from "./lib/example.js";
import { launchBrowser, newPage, screenshot, screenshotDir } from "./lib/browser.js";

let browser;

before(async () => {
  // The certificate is made up by the example at start.
  [browser] = await Promise.all([launchBrowser({ args: ["--ignore-certificate-errors"] }), buildExample("echo")]);
  console.log(`screenshots in ${screenshotDir}`);
});

after(async () => {
  await browser?.close();
  await removeBuilds();
});

// Loads the page, waits until its messages came back and the socket
// closed normally, and returns what the page saw.
async function runPage(t, server, name) {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  // The example prints its address as http://; with -tls it speaks TLS.
  const res = await page.goto(server.url.replace(/^http:/, "https:"));
  assert.equal(res.status(), 200);
  await page.waitForFunction(() => window.echo?.state === "done", null, { timeout: 15_000 });
  const echo = await page.evaluate(() => window.echo);
  console.log(`${name}: ${await screenshot(page, name)}`);
  assert.deepEqual(echo.received, echo.sent, "messages echoed");
  assert.equal(echo.sent.length, 5);
  assert.deepEqual(page.errors, []);
  return echo;
}

test("WebSocket rides HTTP/2 when extended CONNECT is on", async (t) => {
  const bin = await buildExample("echo");
  const server = await startExample(bin, { args: ["-tls"], env: { GODEBUG: "http2xconnect=1" } });
  t.after(() => server.stop());

  const echo = await runPage(t, server, "echo-h2");
  assert.equal(echo.page, "h2", "page loaded over HTTP/2");
  assert.equal(echo.sockets.extendedConnect, true);
  assert.equal(echo.sockets.pageProto, "HTTP/2.0");
  // The server saw the socket as a CONNECT over HTTP/2, and none over
  // HTTP/1.1.
  assert.equal(echo.sockets.http2, 1, "WebSocket handshakes over HTTP/2");
  assert.equal(echo.sockets.http1, 0, "WebSocket handshakes over HTTP/1.1");
  assert.match(server.output(), /extendedConnect=true/);
  assert.equal(await server.stop(), 0, "exit code after SIGTERM");
});

test("WebSocket falls back to HTTP/1.1 without extended CONNECT", async (t) => {
  const bin = await buildExample("echo");
  const env = { GODEBUG: (process.env.GODEBUG ?? "").replace(/http2xconnect=1/g, "") };
  const server = await startExample(bin, { args: ["-tls"], env });
  t.after(() => server.stop());

  const echo = await runPage(t, server, "echo-h1-fallback");
  assert.equal(echo.page, "h2", "page loaded over HTTP/2");
  assert.equal(echo.sockets.extendedConnect, false);
  assert.equal(echo.sockets.http2, 0, "WebSocket handshakes over HTTP/2");
  assert.equal(echo.sockets.http1, 1, "WebSocket handshakes over HTTP/1.1");
  assert.match(server.output(), /extendedConnect=false/);
  assert.equal(await server.stop(), 0, "exit code after SIGTERM");
});
