// The page posts messages to /send and receives everyone's through an
// EventSource on /events. When the connection drops, EventSource
// reconnects by itself and sends the ID of the last event it received
// (Last-Event-ID): the server replays what was missed, so nothing is lost.
"use strict";

const log = document.getElementById("log");
const status = document.getElementById("status");
const form = document.getElementById("send");
const nameInput = document.getElementById("name");
const textInput = document.getElementById("text");
const errorBox = document.getElementById("error");

nameInput.value = localStorage.getItem("chat-name") || "";
if (!nameInput.value) nameInput.focus();

// A name for this tab in the server's logs.
const tab = Math.random().toString(36).slice(2, 10);
const events = new EventSource("/events?event=chat&subscriber_id=tab-" + tab);

events.onopen = () => {
  status.textContent = "live";
  status.classList.add("live");
};
events.onerror = () => {
  status.textContent = "reconnecting…";
  status.classList.remove("live");
};
events.addEventListener("chat", (e) => {
  const m = JSON.parse(e.data);
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = m.time;
  time.textContent = new Date(m.time).toLocaleTimeString();
  const who = document.createElement("b");
  who.textContent = m.name + ":";
  li.append(time, who, m.text); // text nodes: never parsed as HTML
  append(li);
});
// Sent when messages could not be delivered (this page fell too far
// behind, or the server restarted).
events.addEventListener("gap", (e) => {
  const g = JSON.parse(e.data);
  const what = g.dropped ? g.dropped + " messages" : "some messages";
  notice(what + " were missed while this page was away.");
});

function append(li) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  if (atBottom) li.scrollIntoView({ block: "end" });
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  append(li);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = nameInput.value.trim();
  const text = textInput.value.trim();
  if (!name || !text) return;
  localStorage.setItem("chat-name", name);
  errorBox.hidden = true;
  try {
    const resp = await fetch("/send", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, text }),
    });
    if (!resp.ok) throw new Error(await resp.text());
    textInput.value = "";
  } catch (err) {
    errorBox.textContent = "Not sent: " + err.message;
    errorBox.hidden = false;
  }
  textInput.focus();
});
