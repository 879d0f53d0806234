// The notification service in a real browser: one page listens over a
// WebSocket, another over an EventSource, both with the bearer token in
// their URL; a POST /notify reaches both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { buildExample, removeBuilds, startExample } from "./lib/example.js";
import { launchBrowser, newPage, screenshot, screenshotDir } from "./lib/browser.js";

let browser;

before(async () => {
  [browser] = await Promise.all([launchBrowser(), buildExample("notify")]);
  console.log(`screenshots in ${screenshotDir}`);
});

after(async () => {
  await browser?.close();
  await removeBuilds();
});

const waitFor = (page, pred, arg) => page.waitForFunction(pred, arg, { timeout: 15_000 });

test("notify reaches a WebSocket page and an EventSource page", async (t) => {
  const token = "e2e-" + Math.random().toString(36).slice(2);
  const bin = await buildExample("notify");
  const server = await startExample(bin, { args: ["-token", token] });
  t.after(() => server.stop());

  // Without the token the service refuses, and says how to authenticate.
  const refused = await fetch(server.url + "notify", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ event: "nope" }),
  });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("www-authenticate"), /^Bearer/);

  const pages = {};
  for (const transport of ["websocket", "eventsource"]) {
    const page = await newPage(browser);
    t.after(() => page.context().close());
    await page.goto(`${server.url}pages/${transport}.html?access_token=${token}`);
    // live: the EventSource is open, the WebSocket was welcomed; each
    // then receives every notification.
    await waitFor(page, () => window.notify?.state === "live");
    pages[transport] = page;
  }
  const health = await (await fetch(server.url)).json();
  assert.deepEqual(health, { status: "ok", service: "ws", clients: 2 });

  const sent = { event: "deploy", message: "v1.2 is <i>live</i>", data: { version: "1.2", regions: ["eu", "us"] } };
  const resp = await fetch(server.url + "notify", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(sent),
  });
  assert.equal(resp.status, 202);
  const accepted = await resp.json();
  assert.deepEqual(accepted, { id: "1", websocket_clients: 1, sse_clients: 1 });

  for (const [transport, page] of Object.entries(pages)) {
    await waitFor(page, () => window.notify.received.length >= 1);
    const got = await page.evaluate(() => window.notify.received);
    assert.equal(got.length, 1, `${transport}: notifications`);
    const { id, event, message, data, time } = got[0];
    assert.deepEqual({ id, event, message, data }, { id: "1", ...sent }, `${transport}: notification`);
    assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000, `${transport}: time ${time}`);
    const text = await page.locator("#log").innerText();
    assert.match(text, /deploy\s*v1\.2 is <i>live<\/i>/, `${transport}: page shows it as text`);
    assert.match(text, /"regions"/, `${transport}: page shows the data`);
  }

  for (const [transport, page] of Object.entries(pages)) {
    const shot = await screenshot(page, `${t.name} ${transport}`);
    t.diagnostic(`screenshot ${shot}`);
  }
  for (const [transport, page] of Object.entries(pages)) {
    assert.deepEqual(page.errors, [], `${transport}: console errors`);
  }
  for (const page of Object.values(pages)) await page.context().close();
  assert.equal(await server.stop(), 0, "exit code after SIGTERM");
});
