// The dashboard page in a real browser: it receives samples over
// EventSource, and when the server is stopped mid-stream and started again
// on the same port with the same journal, the page reconnects and resumes
// from its Last-Event-ID with no sample missed and none twice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildExample, removeBuilds, startExample } from "./lib/example.js";
import { launchBrowser, newPage, screenshot, screenshotDir } from "./lib/browser.js";

let browser;
let dir;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "stdrealtime-e2e-dashboard-"));
  [browser] = await Promise.all([launchBrowser(), buildExample("dashboard")]);
  console.log(`screenshots in ${screenshotDir}`);
});

after(async () => {
  await browser?.close();
  await removeBuilds();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// What the page exposes as window.dashboard.
const seen = (page) => page.evaluate(() => ({ ...window.dashboard, ids: [...window.dashboard.ids] }));

// Waits until pred(arg), run in the page, is true.
const waitFor = (page, pred, arg) => page.waitForFunction(pred, arg, { timeout: 15_000 });

test("dashboard resumes across a server restart", async (t) => {
  const bin = await buildExample("dashboard");
  const journal = path.join(dir, "samples.journal");
  const args = ["-interval", "100ms", "-retry", "300ms", "-heartbeat", "1s", "-journal", journal];
  let server = await startExample(bin, { args });
  const { addr, url } = server;
  t.after(() => server.stop());

  // While the server is down, the browser's reconnection attempts are
  // refused, and Chromium logs each as a failed request. Those, and only
  // those, are expected.
  let restarting = false;
  const page = await newPage(browser, {
    expected: (e) => restarting && e.url.startsWith(url + "events") && /ERR_CONNECTION_REFUSED/.test(e.text),
  });
  t.after(() => page.context().close());

  await page.goto(url);
  await waitFor(page, () => window.dashboard?.state === "live" && window.dashboard.received >= 5);
  const before = await seen(page);

  restarting = true;
  assert.equal(await server.stop(), 0, "exit code after SIGTERM");
  // The page notices that its stream ended, and its first attempt to
  // reconnect fails: EventSource must keep trying.
  await waitFor(page, (n) => window.dashboard.errors >= n + 2, before.errors);
  const down = await seen(page);
  assert.notEqual(down.state, "closed", "EventSource gave up");

  server = await startExample(bin, { addr, args });
  await waitFor(page, (n) => {
    const d = window.dashboard;
    return d.state === "live" && d.opens === 2 && d.received >= n + 5;
  }, down.received);
  restarting = false;
  const end = await seen(page);

  // Every sample the page received, across the restart, in order: one
  // stream, consecutive sequence numbers, none repeated.
  const parsed = end.ids.map((id) => {
    const i = id.lastIndexOf("-");
    return { stream: id.slice(0, i), seq: Number(id.slice(i + 1)) };
  });
  for (let i = 1; i < parsed.length; i++) {
    assert.equal(parsed[i].stream, parsed[0].stream, `stream of sample ${i} (${end.ids[i]})`);
    assert.equal(parsed[i].seq, parsed[i - 1].seq + 1, `sample ${i} follows ${end.ids[i - 1]}: ${end.ids[i]}`);
  }
  assert.equal(end.received, end.ids.length);
  assert.ok(end.ids.length > down.ids.length, "samples received after the restart");
  assert.deepEqual(end.ids.slice(0, before.ids.length), before.ids);
  assert.deepEqual(end.gaps, [], "gap events");
  assert.equal(end.missed, 0, "samples the page counted as missed");
  assert.equal(end.reconnects, 1, "reconnects");

  // The page shows what it saw (read at one instant: samples keep coming).
  const shown = await page.evaluate(() => ({
    status: document.getElementById("status").textContent,
    reconnects: document.getElementById("reconnects").textContent,
    lastID: document.getElementById("last-id").textContent,
    want: window.dashboard.lastEventId,
  }));
  assert.equal(shown.status, "live");
  assert.equal(shown.reconnects, "1");
  assert.equal(shown.lastID, shown.want);

  // The new server resumed the page from the journal, with no gap.
  const vars = await (await fetch(url + "debug/vars")).json();
  assert.equal(vars.dashboard.resumed, 1, "resumed subscribers");
  assert.equal(vars.dashboard.resume_gaps, 0, "resume gaps");

  const shot = await screenshot(page, t.name);
  t.diagnostic(`screenshot ${shot}`);
  t.diagnostic(`samples ${end.ids[0]} .. ${end.lastEventId}: ${before.ids.length} before the stop, ` +
    `${end.ids.length - down.ids.length} after the restart, ${page.expectedErrors.length} refused reconnection(s)`);
  assert.deepEqual(page.errors, [], "console errors");
});
