// A WebSocket peer built on the npm "ws" package, driven line by line over
// stdin and reporting line by line on stdout, both in JSON. The Go tests in
// this directory use it to talk to package stream.
//
//   node ws_peer.mjs client URL [DEFLATE]  connect to URL
//   node ws_peer.mjs server [DEFLATE]      listen on 127.0.0.1:0, accept one connection
//
// DEFLATE is the perMessageDeflate option of ws as JSON, for example
// '{"threshold":0}' or '{"serverNoContextTakeover":true}'; without it
// compression is neither offered nor accepted. With it every message is
// sent with compress: true, which ws applies to messages of at least
// the threshold (1024 bytes unless set), deciding on a fragmented
// message's first frame.
//
// Commands (stdin, one JSON object a line):
//   {"op":"send","binary":B,"fin":F,"data":BASE64}  one frame or message
//   {"op":"send","binary":B,"fin":F,"pattern":N}    N bytes of pattern(i)
//   {"op":"send","binary":B,"fin":F,"noise":N,"skip":S,"text":T}
//                                                   noise(i) or noiseText(i) for S <= i < S+N
//   {"op":"ping","data":BASE64}
//   {"op":"close","code":C,"reason":R}              C 1005: a close without a body
//   {"op":"terminate"}                              drop the TCP connection
//
// Events (stdout, one JSON object a line):
//   {"ev":"listening","port":P}                      server mode only
//   {"ev":"open","extensions":E}                   E: Sec-WebSocket-Extensions of the response
//   {"ev":"message","binary":B,"len":N,"sha256":HEX,"head":BASE64}
//   {"ev":"ping","data":BASE64}
//   {"ev":"pong","data":BASE64}
//   {"ev":"error","message":M}
//   {"ev":"close","code":C,"reason":R}               then the process exits
//
// pattern(i) = 32 + (i*31 + floor(i/256)) % 95, printable ASCII, the same
// formula as the Go side, so large messages need not cross the pipe.
// noise(i) is the low byte of the (i+1)-th state of xorshift32 (shifts 13,
// 17, 5) seeded with 1, and noiseText(i) is 32 + that state % 95.

import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { WebSocket, WebSocketServer } from "ws";

const args = process.argv.slice(2);
const mode = args[0];
const url = mode === "client" ? args[1] : undefined;
const deflateArg = mode === "client" ? args[2] : args[1];
const perMessageDeflate = deflateArg ? JSON.parse(deflateArg) : false;

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

function noise(n, skip, text) {
  const b = Buffer.allocUnsafe(n);
  let x = 1;
  for (let i = 0; i < skip + n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i >= skip) b[i - skip] = text ? 32 + (x % 95) : x & 0xff;
  }
  return b;
}

function payload(cmd) {
  if (cmd.pattern !== undefined) return pattern(cmd.pattern);
  if (cmd.noise !== undefined) return noise(cmd.noise, cmd.skip ?? 0, !!cmd.text);
  return Buffer.from(cmd.data ?? "", "base64");
}

// Options shared by both modes: 64 MiB messages, compression per DEFLATE.
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
        ws.send(payload(cmd), { binary: !!cmd.binary, fin: cmd.fin !== false, compress: !!perMessageDeflate });
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
  const ws = new WebSocket(url, { maxPayload, perMessageDeflate });
  let extensions = "";
  ws.on("upgrade", (res) => (extensions = res.headers["sec-websocket-extensions"] ?? ""));
  ws.on("open", () => emit({ ev: "open", extensions }));
  attach(ws);
} else if (mode === "server") {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload, perMessageDeflate });
  server.on("listening", () => emit({ ev: "listening", port: server.address().port }));
  // The response's header lines, just before ws writes them.
  let extensions = "";
  server.once("headers", (headers) => {
    const prefix = "sec-websocket-extensions:";
    const line = headers.find((h) => h.toLowerCase().startsWith(prefix));
    extensions = line ? line.slice(prefix.length).trim() : "";
  });
  server.once("connection", (ws) => {
    emit({ ev: "open", extensions });
    attach(ws);
  });
} else {
  console.error("usage: ws_peer.mjs client URL [DEFLATE] | server [DEFLATE]");
  process.exit(2);
}
