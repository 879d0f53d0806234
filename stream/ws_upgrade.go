package stream

import (
	"bufio"
	"encoding/base64"
	"net/http"
	"time"
)

// Upgrade performs the server side of the opening handshake and returns
// the connection. It accepts both forms of the handshake:
//
//   - HTTP/1.1 (RFC 6455 §4.2): a GET with Upgrade: websocket, answered
//     with 101 Switching Protocols on the hijacked connection.
//   - HTTP/2 (RFC 8441): an extended CONNECT with :protocol websocket,
//     answered with 200 on the request's stream, which then carries the
//     frames. See ExtendedConnectEnabled for how to turn it on, and
//     below for what differs.
//
// A bad request is answered here and reported as a *HandshakeError: 405
// for a method other than GET (or CONNECT over HTTP/2), 400 for a missing
// Upgrade or Connection token, a bad Sec-WebSocket-Key or a :protocol
// other than websocket, 426 (with Sec-WebSocket-Version: 13) for another
// protocol version, 403 when the origin check refuses, the status
// Authorize chose when it refuses, and 503 with Retry-After when the
// Limiter has no seat. Subprotocols, the origin check, Authorize, the
// Limiter and compression work the same way over both. Bytes
// the client sent right after its handshake are kept. The handler must
// not use w after a successful Upgrade. Safe for concurrent use.
//
// Over HTTP/2 the connection lives on the handler's stream, so the
// handler must not return until the connection is closed (for example
// by reading until ReadMessage fails, as Hub.Handler does, or by waiting
// on Closed). Returning early ends the stream, and the connection with
// it. Closing the connection ends the stream (RFC 8441 §5.1), not the
// TCP connection, which other streams share.
func Upgrade(w http.ResponseWriter, r *http.Request, cfg WSConfig) (*WebSocketConn, error) {
	if r.ProtoMajor >= 2 && r.Method == http.MethodConnect {
		return upgradeH2(w, r, cfg)
	}
	// §4.1: "The method of the request MUST be GET, and the HTTP version
	// MUST be at least 1.1."
	if r.Method != http.MethodGet {
		return refuseUpgrade(w, http.StatusMethodNotAllowed, "method must be GET")
	}
	if !r.ProtoAtLeast(1, 1) {
		return refuseUpgrade(w, http.StatusBadRequest, "HTTP/1.1 or later required")
	}
	// §4.2.1 items 3 and 4: Upgrade includes "websocket" and Connection
	// includes "Upgrade", both case-insensitive.
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return refuseUpgrade(w, http.StatusBadRequest, "missing Upgrade: websocket")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return refuseUpgrade(w, http.StatusBadRequest, "missing Connection: Upgrade")
	}
	if err := checkVersion(w, r); err != nil {
		return nil, err
	}
	// §4.2.1 item 5: a key that "when decoded, is 16 bytes in length".
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return refuseUpgrade(w, http.StatusBadRequest, "need exactly one Sec-WebSocket-Key")
	}
	key := keys[0]
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return refuseUpgrade(w, http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	n, err := negotiate(w, r, cfg)
	if err != nil {
		return nil, err
	}

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		n.abort()
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, &HandshakeError{Op: "upgrade", Status: http.StatusInternalServerError, Reason: "connection cannot be hijacked: " + err.Error()}
	}
	set := cfg.settings()
	// §4.2.2 item 5: status 101, Upgrade, Connection and the accept key.
	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	bw.WriteString(acceptKey(key))
	if n.subprotocol != "" {
		bw.WriteString("\r\nSec-WebSocket-Protocol: ")
		bw.WriteString(n.subprotocol)
	}
	if n.compress {
		bw.WriteString("\r\nSec-WebSocket-Extensions: ")
		bw.WriteString(n.ext)
	}
	bw.WriteString("\r\n\r\n")
	if set.writeTimeout > 0 {
		netConn.SetWriteDeadline(time.Now().Add(set.writeTimeout))
	}
	if err := bw.Flush(); err != nil {
		netConn.Close()
		n.abort()
		return nil, &HandshakeError{Op: "upgrade", Reason: "writing the response: " + err.Error()}
	}
	netConn.SetDeadline(time.Time{})
	// The hijacked reader may hold frames the client sent along with its
	// handshake; it becomes the connection's reader.
	c := newConn(netConn, brw.Reader, bw, false, set, n.subprotocol)
	// net/http keeps pointers to its 4 KiB reader and writer until the
	// handler returns, though it no longer uses them; the connection took
	// what the reader held, and writes vectored without the writer, so
	// both buffers are dropped here instead of sitting in every idle
	// connection.
	*brw.Reader = bufio.Reader{}
	if c.bw == nil {
		*bw = bufio.Writer{}
	}
	n.attach(c, cfg)
	return c, nil
}

// refuseUpgrade answers a handshake that cannot succeed with status and
// returns the matching *HandshakeError.
func refuseUpgrade(w http.ResponseWriter, status int, reason string) (*WebSocketConn, error) {
	if status == http.StatusUpgradeRequired {
		// §4.2.2: a server that does not speak the requested version
		// answers with the versions it does.
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodGet)
	}
	http.Error(w, http.StatusText(status)+": "+reason, status)
	return nil, &HandshakeError{Op: "upgrade", Status: status, Reason: reason}
}

// checkVersion refuses a request that does not ask for version 13.
func checkVersion(w http.ResponseWriter, r *http.Request) error {
	// §4.2.1 item 6: "Sec-WebSocket-Version header field, with a value
	// of 13". RFC 8441 §5 keeps it for HTTP/2.
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		_, err := refuseUpgrade(w, http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version")
		return err
	}
	return nil
}

// negotiation is what the server agreed to in a handshake.
type negotiation struct {
	subprotocol string
	dcfg        deflateConfig
	ext         string // the Sec-WebSocket-Extensions answer
	agreed      deflateAgreement
	compress    bool
	release     func() // gives back the Limiter seat; nil without one
}

// abort gives back what a negotiation holds when the upgrade fails after
// it.
func (n negotiation) abort() {
	if n.release != nil {
		n.release()
	}
}

// attach applies the negotiation to the new connection c: compression,
// the rate limit, and the Limiter seat, given back when c closes.
func (n negotiation) attach(c *WebSocketConn, cfg WSConfig) {
	if n.compress {
		c.enableDeflate(n.dcfg, n.agreed)
		c.extensions = n.ext
	}
	c.rate = newRateBucket(cfg.RateLimit)
	if n.release != nil {
		c.OnClose(n.release)
	}
}

// negotiate runs the checks and negotiations that both handshakes share:
// the origin check, Authorize and the Limiter, the subprotocol and
// permessage-deflate. A refusal has been answered when it returns an
// error; otherwise the caller ends with attach or abort.
func negotiate(w http.ResponseWriter, r *http.Request, cfg WSConfig) (negotiation, error) {
	var n negotiation
	dcfg, err := cfg.deflateConfig()
	if err != nil {
		_, err = refuseUpgrade(w, http.StatusInternalServerError, err.Error())
		return n, err
	}
	n.dcfg = dcfg
	check := cfg.CheckOrigin
	if check == nil {
		check = sameOrigin
	}
	if !check(r) {
		_, err = refuseUpgrade(w, http.StatusForbidden, "origin not allowed")
		return n, err
	}
	if n.release, err = cfg.admit(w, r); err != nil {
		return n, err
	}
	if len(cfg.Subprotocols) > 0 {
		offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	pick:
		for _, want := range cfg.Subprotocols {
			for _, o := range offered {
				if o == want {
					n.subprotocol = want
					break pick
				}
			}
		}
	}
	n.ext, n.agreed, n.compress = acceptDeflate(r.Header, dcfg.mode)
	return n, nil
}
