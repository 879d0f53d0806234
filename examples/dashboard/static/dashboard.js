// The page receives the server's metrics as "sample" events through an
// EventSource on /events. When the connection drops (the server restarts,
// say), EventSource reconnects by itself after the delay the server set
// with "retry:" and sends the ID of the last event it received
// (Last-Event-ID); the server replays every sample the page missed.
"use strict";

const $ = (id) => document.getElementById(id);
const status = $("status");
const chart = $("heap-chart");

// What this page saw, for people and for tests: the IDs of the samples
// received, in order, and the connection's history.
const seen = {
  ids: [],         // event IDs of the samples received (the last maxIDs)
  received: 0,     // samples received
  opens: 0,        // times the connection opened
  reconnects: 0,   // opens after the first
  errors: 0,       // times the connection dropped or failed to open
  gaps: [],        // data of the broker's "gap" events
  missed: 0,       // samples known to be missed
  lastEventId: "",
  state: "connecting",
};
window.dashboard = seen;
const maxIDs = 10000;
const heap = [];      // the last samples' heap_bytes, for the chart
const chartLen = 120;

// A name for this tab in the server's logs.
const tab = Math.random().toString(36).slice(2, 10);
const events = new EventSource("/events?subscriber_id=tab-" + tab);

function setState(state, text) {
  seen.state = state;
  status.textContent = text;
  status.className = "status " + state;
}

events.onopen = () => {
  seen.opens++;
  seen.reconnects = seen.opens - 1;
  $("reconnects").textContent = seen.reconnects;
  setState("live", "live");
};
events.onerror = () => {
  seen.errors++;
  if (events.readyState === EventSource.CLOSED) {
    setState("closed", "closed (reload to retry)");
  } else {
    setState("reconnecting", "reconnecting…");
  }
};

// IDs are "<stream>-<seq>": seq counts samples within the stream.
function parseID(id) {
  const i = id.lastIndexOf("-");
  return { stream: id.slice(0, i), seq: Number(id.slice(i + 1)) };
}

events.addEventListener("sample", (e) => {
  const s = JSON.parse(e.data);
  if (seen.lastEventId) {
    const prev = parseID(seen.lastEventId);
    const cur = parseID(e.lastEventId);
    if (prev.stream === cur.stream && cur.seq > prev.seq + 1) {
      seen.missed += cur.seq - prev.seq - 1;
    }
  }
  seen.received++;
  seen.ids.push(e.lastEventId);
  if (seen.ids.length > maxIDs) seen.ids.splice(0, seen.ids.length - maxIDs);
  seen.lastEventId = e.lastEventId;
  show(s);
  heap.push(s.heap_bytes);
  if (heap.length > chartLen) heap.shift();
  draw();
});

// Sent by the server when this page missed samples: it fell too far
// behind, or it was away longer than the server keeps samples.
events.addEventListener("gap", (e) => {
  const g = JSON.parse(e.data);
  seen.gaps.push(g);
  if (g.dropped) seen.missed += g.dropped;
  $("missed").textContent = seen.missed;
  const notice = $("notice");
  notice.textContent = (g.dropped ? g.dropped + " samples" : "Some samples") +
    " were missed while this page was away.";
  notice.hidden = false;
});

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}

function duration(s) {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (s % 60) + "s";
}

function show(s) {
  $("goroutines").textContent = s.goroutines;
  $("heap_bytes").textContent = bytes(s.heap_bytes);
  $("heap_objects").textContent = s.heap_objects.toLocaleString();
  $("total_bytes").textContent = bytes(s.total_bytes);
  $("gc_cycles").textContent = s.gc_cycles;
  $("uptime_s").textContent = duration(s.uptime_s);
  $("requests").textContent = s.requests.toLocaleString();
  $("subscribers").textContent = s.subscribers;
  $("time").textContent = new Date(s.time).toLocaleTimeString();
  $("last-id").textContent = seen.lastEventId;
  $("received").textContent = seen.received;
  $("missed").textContent = seen.missed;
}

function draw() {
  const ctx = chart.getContext("2d");
  const w = chart.width, h = chart.height;
  ctx.clearRect(0, 0, w, h);
  $("chart-len").textContent = heap.length;
  if (heap.length < 2) return;
  const lo = Math.min(...heap), hi = Math.max(...heap);
  const span = hi - lo || 1;
  ctx.beginPath();
  heap.forEach((v, i) => {
    const x = (i / (chartLen - 1)) * w;
    const y = h - 4 - ((v - lo) / span) * (h - 8);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.strokeStyle = "#246";
  ctx.lineWidth = 2;
  ctx.stroke();
}
