// The page talks to the chat over one WebSocket on /ws, in JSON envelopes
// {"type", "payload", "sender_id", "ts"}: it sends "join", "say" and
// "leave", and receives "joined" (the room's members and its recent
// history), "message", "presence", "left" and "error". If the connection
// drops, the page reconnects and joins its room again.
//
// The activity feed comes from an EventSource on /events. When its
// connection drops, EventSource reconnects by itself with the ID of the
// last event it received (Last-Event-ID), and the server replays what the
// page missed.
"use strict";

const $ = (id) => document.getElementById(id);

// What this page saw, for people and for tests.
const state = {
  ws: "connecting",  // "open", "reconnecting"
  closeCode: 0,      // of the last WebSocket close
  name: "",          // the name and room joined, "" when in none
  room: "",
  members: [],
  messages: [],      // {name, text, time} of the current room, history first
  errors: [],        // the server's error messages
  feed: { state: "connecting", opens: 0, events: [], gaps: [] }, // events: {id, type, data}
};
window.chat = state;
const maxFeed = 1000;

let ws;
let wanted = null; // {name, room} to join (again) once connected
let retryDelay = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(scheme + "//" + location.host + "/ws");
  ws.onopen = () => {
    retryDelay = 500;
    state.ws = "open";
    setStatus($("status"), true, "connected");
    $("send").disabled = $("text").disabled = !state.room;
    if (wanted) send("join", wanted);
  };
  ws.onclose = (e) => {
    state.ws = "reconnecting";
    state.closeCode = e.code;
    state.room = state.name = "";
    state.members = [];
    showRoom();
    const why = e.code === 1001 ? "server went away" : e.code === 1009 ? "message too big" : "disconnected";
    setStatus($("status"), false, why + ", reconnecting…");
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10_000);
  };
  ws.onmessage = (e) => receive(JSON.parse(e.data));
}

function send(type, payload) {
  if (ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(payload === undefined ? { type } : { type, payload }));
  return true;
}

function receive(m) {
  const p = m.payload || {};
  switch (m.type) {
    case "joined":
      state.name = p.name;
      state.room = p.room;
      state.members = p.members;
      state.messages = [];
      $("log").replaceChildren();
      for (const msg of p.history) addMessage(msg);
      if (p.history.length) notice("– earlier messages above –");
      showRoom();
      break;
    case "left":
      wanted = null;
      state.room = state.name = "";
      state.members = [];
      state.messages = [];
      $("log").replaceChildren();
      showRoom();
      break;
    case "message":
      addMessage(p);
      break;
    case "presence":
      state.members = p.members;
      notice(p.name + (p.event === "join" ? " joined" : " left"));
      showRoom();
      break;
    case "error":
      state.errors.push(p.error);
      showError(p.error);
      break;
  }
}

function addMessage(msg) {
  state.messages.push(msg);
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = msg.time;
  time.textContent = new Date(msg.time).toLocaleTimeString();
  const who = document.createElement("b");
  who.textContent = msg.name + ":";
  li.append(time, who, msg.text); // text nodes: never parsed as HTML
  append($("log"), li);
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  append($("log"), li);
}

function append(list, li) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) li.scrollIntoView({ block: "end" });
}

function showRoom() {
  $("where").textContent = state.room ? `${state.name} in ${state.room}` : "";
  $("members").replaceChildren(...state.members.map((n) => {
    const li = document.createElement("li");
    li.textContent = n;
    return li;
  }));
  const inRoom = !!state.room;
  $("send").disabled = $("text").disabled = $("leave").disabled = !inRoom;
}

function setStatus(el, live, text) {
  el.textContent = text;
  el.classList.toggle("live", live);
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

$("name").value = localStorage.getItem("chat-name") || "";
$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  $("error").hidden = true;
  wanted = { name: $("name").value.trim(), room: $("room").value.trim() };
  localStorage.setItem("chat-name", wanted.name);
  if (!send("join", wanted)) showError("Not connected; joining once connected.");
});
$("leave").addEventListener("click", () => send("leave"));
$("say").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("error").hidden = true;
  if (send("say", { text })) $("text").value = "";
  else showError("Not sent: not connected.");
  $("text").focus();
});

// The activity feed.
const tab = Math.random().toString(36).slice(2, 10); // names this tab in the server's logs
const feed = new EventSource("/events?subscriber_id=tab-" + tab);
feed.onopen = () => {
  state.feed.opens++;
  state.feed.state = "live";
  setStatus($("feed-status"), true, "live");
};
feed.onerror = () => {
  state.feed.state = feed.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
  setStatus($("feed-status"), false, state.feed.state + "…");
};
function feedEvent(e) {
  const d = JSON.parse(e.data);
  state.feed.events.push({ id: e.lastEventId, type: e.type, data: d });
  if (state.feed.events.length > maxFeed) state.feed.events.shift();
  const li = document.createElement("li");
  li.textContent = e.type === "messages"
    ? `${d.room}: ${d.count} message${d.count === 1 ? "" : "s"}`
    : `${d.name} ${e.type === "join" ? "joined" : "left"} ${d.room} (${d.members.length} there)`;
  const list = $("feed");
  append(list, li);
  while (list.childElementCount > 200) list.firstElementChild.remove();
}
for (const type of ["join", "leave", "messages"]) feed.addEventListener(type, feedEvent);
feed.addEventListener("gap", (e) => {
  state.feed.gaps.push(JSON.parse(e.data));
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = "some activity was missed";
  append($("feed"), li);
});

connect();
