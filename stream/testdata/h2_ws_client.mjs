// A WebSocket client over HTTP/2 extended CONNECT (RFC 8441) built on
// Node's own http2 and zlib modules, for the tests of package stream.
//
//   node h2_ws_client.mjs https://127.0.0.1:PORT
//
// Commands arrive as JSON lines on stdin, events leave as JSON lines on
// stdout; binary data travels as base64. Streams are named by the id
// given in "open". Pings are answered and a close frame is echoed unless
// the client already sent one; "autopong" and "autoclose" turn that off.
import http2 from "node:http2";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import zlib from "node:zlib";

const emit = (ev) => process.stdout.write(JSON.stringify(ev) + "\n");
const session = http2.connect(process.argv[2], { rejectUnauthorized: false });
session.on("error", (err) => emit({ ev: "error", message: String(err) }));
session.once("remoteSettings", (s) => emit({ ev: "settings", connect: s.enableConnectProtocol === true }));

const streams = new Map(); // id -> state
let autoPong = true;
let autoClose = true;

function frame(opcode, payload, { fin = true, rsv1 = false } = {}) {
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)];
  if (len < 126) head.push(0x80 | len);
  else if (len < 65536) head.push(0x80 | 126, len >> 8, len & 255);
  else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  }
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

// deflate compresses one message on its own (no context takeover) and
// drops the final empty block's tail, RFC 7692 §7.2.1.
function deflate(data) {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function inflate(data) {
  return zlib.inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
}

function onData(id, st, chunk) {
  st.buf = Buffer.concat([st.buf, chunk]);
  for (;;) {
    const b = st.buf;
    if (b.length < 2) return;
    const fin = (b[0] & 0x80) !== 0, rsv1 = (b[0] & 0x40) !== 0, opcode = b[0] & 15;
    if (b[1] & 0x80) { emit({ ev: "error", id, message: "masked frame from server" }); return; }
    let len = b[1] & 127, off = 2;
    if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
    if (b.length < off + len) return;
    const payload = b.subarray(off, off + len);
    st.buf = b.subarray(off + len);
    if (opcode === 9) {
      emit({ ev: "ping", id, data: payload.toString("base64") });
      if (autoPong && !st.closeSent) st.req.write(frame(10, payload));
    } else if (opcode === 10) {
      emit({ ev: "pong", id, data: payload.toString("base64") });
    } else if (opcode === 8) {
      const code = len >= 2 ? payload.readUInt16BE(0) : 1005;
      emit({ ev: "close", id, code, reason: payload.subarray(2).toString("utf8") });
      if (autoClose && !st.closeSent) {
        st.closeSent = true;
        st.req.write(frame(8, len >= 2 ? payload.subarray(0, 2) : Buffer.alloc(0)));
      }
    } else {
      if (opcode !== 0) { st.msgOp = opcode; st.msgRsv1 = rsv1; st.parts = []; }
      st.parts.push(payload);
      if (fin) {
        let data = Buffer.concat(st.parts);
        if (st.msgRsv1) data = inflate(data);
        emit({ ev: "msg", id, binary: st.msgOp === 2, rsv1: st.msgRsv1, data: data.toString("base64") });
      }
    }
  }
}

function open(cmd) {
  const headers = {
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "https",
    ":path": cmd.path,
    "sec-websocket-version": cmd.version ?? "13",
  };
  if (cmd.protocols) headers["sec-websocket-protocol"] = cmd.protocols.join(", ");
  if (cmd.deflate) headers["sec-websocket-extensions"] = "permessage-deflate; client_no_context_takeover; server_no_context_takeover";
  if (cmd.origin) headers["origin"] = cmd.origin;
  const req = session.request(headers, { endStream: false });
  const st = { req, buf: Buffer.alloc(0), parts: [], closeSent: false };
  streams.set(cmd.id, st);
  req.on("response", (h) => emit({
    ev: "open", id: cmd.id, status: h[":status"],
    protocol: h["sec-websocket-protocol"] ?? "",
    extensions: h["sec-websocket-extensions"] ?? "",
    accept: h["sec-websocket-accept"] ?? "",
    version: h["sec-websocket-version"] ?? "",
  }));
  req.on("data", (chunk) => onData(cmd.id, st, chunk));
  req.on("end", () => emit({ ev: "end", id: cmd.id }));
  req.on("close", () => emit({ ev: "closed", id: cmd.id, rstCode: req.rstCode ?? 0 }));
  req.on("error", (err) => emit({ ev: "streamerror", id: cmd.id, message: String(err) }));
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  const st = streams.get(cmd.id);
  const data = Buffer.from(cmd.data ?? "", "base64");
  switch (cmd.op) {
    case "open": open(cmd); break;
    case "send":
      if (cmd.compress) st.req.write(frame(cmd.binary ? 2 : 1, deflate(data), { rsv1: true }));
      else st.req.write(frame(cmd.binary ? 2 : 1, data));
      break;
    case "ping": st.req.write(frame(9, data)); break;
    case "close": {
      const p = Buffer.alloc(2 + Buffer.byteLength(cmd.reason ?? ""));
      p.writeUInt16BE(cmd.code, 0);
      p.write(cmd.reason ?? "", 2);
      st.closeSent = true;
      st.req.write(frame(8, p));
      break;
    }
    case "end": st.req.end(); break;
    case "reset": st.req.close(http2.constants.NGHTTP2_CANCEL); break;
    case "pause": st.req.pause(); break;
    case "autopong": autoPong = cmd.on; break;
    case "autoclose": autoClose = cmd.on; break;
    case "exit": session.close(() => process.exit(0)); break;
  }
});
rl.on("close", () => session.destroy());
