// The chat in a real browser: two pages join the same room and hear each
// other, the second one getting the room's history on joining; a third
// page in another room hears neither. Every page's activity feed (an
// EventSource) shows the three joins.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { buildExample, removeBuilds, startExample } from "./lib/example.js";
import { launchBrowser, newPage, screenshot, screenshotDir } from "./lib/browser.js";

let browser;

before(async () => {
  [browser] = await Promise.all([launchBrowser(), buildExample("chat")]);
  console.log(`screenshots in ${screenshotDir}`);
});

after(async () => {
  await browser?.close();
  await removeBuilds();
});

// Waits until pred(arg), run in the page, is true.
const waitFor = (page, pred, arg) => page.waitForFunction(pred, arg, { timeout: 15_000 });

// What the page exposes as window.chat.
const seen = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.chat)));

// Opens the chat, waits for its WebSocket and feed, and joins a room
// through the form.
async function openAndJoin(url, name, room) {
  const page = await newPage(browser);
  await page.goto(url);
  await waitFor(page, () => window.chat?.ws === "open" && window.chat.feed.state === "live");
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join button");
  await waitFor(page, ([n, r]) => window.chat.name === n && window.chat.room === r, [name, room]);
  return page;
}

// Says text through the form and waits until the page shows it.
async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  await waitFor(page, (t) => window.chat.messages.some((m) => m.text === t), text);
}

test("chat rooms in the browser", async (t) => {
  const bin = await buildExample("chat");
  const server = await startExample(bin);
  t.after(() => server.stop());

  const alice = await openAndJoin(server.url, "alice", "lobby");
  await say(alice, "before bob came");
  const bob = await openAndJoin(server.url, "bob", "lobby");
  const carol = await openAndJoin(server.url, "carol", "kitchen");
  const pages = { alice, bob, carol };
  for (const page of Object.values(pages)) t.after(() => page.context().close());

  // Bob got the lobby's history when he joined, and sees alice there.
  let b = await seen(bob);
  assert.deepEqual(b.messages.map((m) => [m.name, m.text]), [["alice", "before bob came"]]);
  assert.deepEqual(b.members, ["alice", "bob"]);
  await waitFor(alice, () => window.chat.members.length === 2);

  // Alice speaks: bob's page shows it.
  await say(alice, "hello <b>bob</b>");
  await waitFor(bob, () => window.chat.messages.some((m) => m.name === "alice" && m.text === "hello <b>bob</b>"));
  const shown = await bob.locator("#log").innerText();
  assert.match(shown, /alice:\s*hello <b>bob<\/b>/, "bob's page shows the message as text");

  // Carol, in the kitchen, says something after that: had she been sent
  // the lobby's messages they would have arrived before her own.
  await say(carol, "anyone in the kitchen?");
  const c = await seen(carol);
  assert.deepEqual(c.messages.map((m) => [m.name, m.text]), [["carol", "anyone in the kitchen?"]]);
  assert.deepEqual(c.members, ["carol"]);
  assert.doesNotMatch(await carol.locator("#log").innerText(), /bob|alice/);
  b = await seen(bob);
  assert.ok(!b.messages.some((m) => m.name === "carol"), "bob heard the kitchen");

  // Every activity feed shows the joins since it opened, in order, and
  // the lobby's second message.
  const joinsSeen = { alice: ["alice", "bob", "carol"], bob: ["bob", "carol"], carol: ["carol"] };
  for (const [who, page] of Object.entries(pages)) {
    await waitFor(page, () => window.chat.feed.events.some((e) => e.type === "messages" && e.data.room === "lobby" && e.data.count === 2));
    const f = (await seen(page)).feed;
    assert.deepEqual(f.events.filter((e) => e.type === "join").map((e) => e.data.name), joinsSeen[who], `${who}: joins in the feed`);
    assert.deepEqual(f.gaps, [], `${who}: feed gaps`);
    assert.equal(f.opens, 1, `${who}: feed connections`);
    const ids = f.events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `${who}: feed events repeated`);
  }

  const vars = await (await fetch(server.url + "debug/vars")).json();
  assert.equal(vars.chat.hub.Connections, 3, "WebSocket connections");
  assert.equal(vars.chat.hub.Rooms, 2, "rooms");
  assert.equal(vars.chat.activity.subscribers, 3, "feed subscribers");

  for (const [who, page] of Object.entries(pages)) {
    const shot = await screenshot(page, `${t.name} ${who}`);
    t.diagnostic(`screenshot ${shot}`);
  }
  for (const [who, page] of Object.entries(pages)) {
    assert.deepEqual(page.errors, [], `${who}: console errors`);
  }
  for (const page of Object.values(pages)) await page.context().close();
  assert.equal(await server.stop(), 0, "exit code after SIGTERM");
});
