// The page shows the notifications it receives, over a WebSocket on /ws
// (websocket.html) or an EventSource on /events (eventsource.html). A
// token given in this page's URL as ?access_token=... is passed on, since
// neither can send an Authorization header.
//
// A WebSocket that drops is opened again after a delay; notifications
// sent meanwhile are lost to it. An EventSource reconnects by itself with
// the ID of the last event it received, and the server replays those it
// missed.
"use strict";

const transport = document.body.dataset.transport;
const status = document.getElementById("status");
const log = document.getElementById("log");

// What this page saw, for people and for tests.
const state = {
  transport,
  state: "connecting", // "live", "reconnecting", "closed"
  opens: 0,            // times the connection opened (WebSocket: was welcomed)
  closeCode: 0,        // of the last WebSocket close
  received: [],        // the notifications, in order
  gaps: [],            // EventSource: data of "gap" events
};
window.notify = state;

const token = new URLSearchParams(location.search).get("access_token");
const query = token ? "?access_token=" + encodeURIComponent(token) : "";

function setState(s, text) {
  state.state = s;
  status.textContent = text;
  status.classList.toggle("live", s === "live");
}

function show(n) {
  state.received.push(n);
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = n.time;
  time.textContent = new Date(n.time).toLocaleTimeString();
  const event = document.createElement("b");
  event.textContent = n.event;
  li.append(time, event, n.message || ""); // text nodes: never parsed as HTML
  if (n.data !== undefined) {
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(n.data, null, 2);
    li.append(pre);
  }
  log.prepend(li);
  while (log.childElementCount > 200) log.lastElementChild.remove();
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  log.prepend(li);
}

function opened() {
  state.opens++;
  setState("live", "live");
}

if (transport === "websocket") {
  let delay = 500;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws" + query);
    ws.onopen = () => { delay = 500; };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      // The server sends "welcome" once the connection receives every
      // notification.
      if (m.type === "welcome") opened();
      else if (m.type === "notification") show(m.payload);
    };
    ws.onclose = (e) => {
      state.closeCode = e.code;
      setState("reconnecting", (e.code === 1001 ? "server went away" : "disconnected") + ", reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  connect();
} else {
  const events = new EventSource("/events" + query);
  events.onopen = opened;
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) setState("closed", "closed (reload to retry)");
    else setState("reconnecting", "reconnecting…");
  };
  events.addEventListener("notification", (e) => show(JSON.parse(e.data)));
  events.addEventListener("gap", (e) => {
    state.gaps.push(JSON.parse(e.data));
    notice("some notifications were missed");
  });
}
