// A WebSocket peer built on the npm "ws" package, driven line by line over
// stdin and reporting line by line on stdout, both in JSON. The Go tests in
// this directory use it to talk to package stream.
//
//   node ws_peer.mjs client URL   connect to URL
//   node ws_peer.mjs server       listen on 127.0.0.1:0, accept one connection
//
// Commands (stdin, one JSON object a line):
//   {"op":"send","binary":B,"fin":F,"data":BASE64}  one frame or message
//   {"op":"send","binary":B,"fin":F,"pattern":N}    N bytes of pattern(i)
//   {"op":"ping","data":BASE64}
//   {"op":"close","code":C,"reason":R}              C 1005: a close without a body
//   {"op":"terminate"}                              drop the TCP connection
//
// Events (stdout, one JSON object a line):
//   {"ev":"listening","port":P}                      server mode only
//   {"ev":"open"}
//   {"ev":"message","binary":B,"len":N,"sha256":HEX,"head":BASE64}
//   {"ev":"ping","data":BASE64}
//   {"ev":"pong","data":BASE64}
//   {"ev":"error","message":M}
//   {"ev":"close","code":C,"reason":R}               then the process exits
//
// pattern(i) = 32 + (i*31 + floor(i/256)) % 95, printable ASCII, the same
// formula as the Go side, so large messages need not cross the pipe.

import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { WebSocket, WebSocketServer } from "ws";

const [mode, url] = process.argv.slice(2);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function pattern(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    b[i] = 32 + ((i * 31 + Math.floor(i / 256)) % 95);
  }
  return b;
}

function payload(cmd) {
  if (cmd.pattern !== undefined) return pattern(cmd.pattern);
  return Buffer.from(cmd.data ?? "", "base64");
}

// Options shared by both modes: 64 MiB messages, no compression offered.
const maxPayload = 64 << 20;

function attach(ws) {
  ws.on("message", (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    emit({
      ev: "message",
      binary: isBinary,
      len: buf.length,
      sha256: createHash("sha256").update(buf).digest("hex"),
      head: buf.subarray(0, 64).toString("base64"),
    });
  });
  ws.on("ping", (data) => emit({ ev: "ping", data: data.toString("base64") }));
  ws.on("pong", (data) => emit({ ev: "pong", data: data.toString("base64") }));
  ws.on("error", (err) => emit({ ev: "error", message: String(err && err.message) }));
  ws.on("close", (code, reason) => {
    emit({ ev: "close", code, reason: reason.toString() });
    finish();
  });

  current = ws;
}

// The connection commands act on, once there is one.
let current;

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  const cmd = JSON.parse(line);
  const ws = current;
  if (!ws) {
    emit({ ev: "error", message: "no connection for " + cmd.op });
    return;
  }
  try {
    switch (cmd.op) {
      case "send":
        ws.send(payload(cmd), { binary: !!cmd.binary, fin: cmd.fin !== false, compress: false });
        break;
      case "ping":
        ws.ping(payload(cmd));
        break;
      case "close":
        // 1005 stands for a close frame without a body.
        if (cmd.code === 1005) ws.close();
        else ws.close(cmd.code, cmd.reason ?? "");
        break;
      case "terminate":
        ws.terminate();
        break;
      default:
        emit({ ev: "error", message: "unknown op " + cmd.op });
    }
  } catch (err) {
    emit({ ev: "error", message: String(err && err.message) });
  }
});
// The Go side going away ends the peer: drop the connection, or exit if
// there is none yet.
rl.on("close", () => (current ? current.terminate() : finish()));

let server;
function finish() {
  // Let stdout drain before exiting.
  const done = () => process.stdout.write("", () => process.exit(0));
  if (server) server.close(done);
  else done();
}

if (mode === "client") {
  const ws = new WebSocket(url, { maxPayload, perMessageDeflate: false });
  ws.on("open", () => emit({ ev: "open" }));
  attach(ws);
} else if (mode === "server") {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload, perMessageDeflate: false });
  server.on("listening", () => emit({ ev: "listening", port: server.address().port }));
  server.once("connection", (ws) => {
    emit({ ev: "open" });
    attach(ws);
  });
} else {
  console.error("usage: ws_peer.mjs client URL | server");
  process.exit(2);
}
