package stream

import (
	"encoding/base64"
	"net/http"
	"time"
)

// Upgrade performs the server side of the opening handshake (RFC 6455
// §4.2) and returns the connection. A bad request is answered here and
// reported as a *HandshakeError: 405 for a method other than GET, 400 for
// a missing Upgrade or Connection token or a bad Sec-WebSocket-Key, 426
// (with Sec-WebSocket-Version: 13) for another protocol version, 403 when
// the origin check refuses. Bytes the client sent right after its
// handshake are kept. The handler must not use w after a successful
// Upgrade. Safe for concurrent use.
func Upgrade(w http.ResponseWriter, r *http.Request, cfg WSConfig) (*WebSocketConn, error) {
	refuse := func(status int, reason string) (*WebSocketConn, error) {
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
	// §4.1: "The method of the request MUST be GET, and the HTTP version
	// MUST be at least 1.1."
	if r.Method != http.MethodGet {
		return refuse(http.StatusMethodNotAllowed, "method must be GET")
	}
	if !r.ProtoAtLeast(1, 1) {
		return refuse(http.StatusBadRequest, "HTTP/1.1 or later required")
	}
	// §4.2.1 items 3 and 4: Upgrade includes "websocket" and Connection
	// includes "Upgrade", both case-insensitive.
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return refuse(http.StatusBadRequest, "missing Upgrade: websocket")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return refuse(http.StatusBadRequest, "missing Connection: Upgrade")
	}
	// §4.2.1 item 6: "Sec-WebSocket-Version header field, with a value
	// of 13".
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		return refuse(http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version")
	}
	// §4.2.1 item 5: a key that "when decoded, is 16 bytes in length".
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return refuse(http.StatusBadRequest, "need exactly one Sec-WebSocket-Key")
	}
	key := keys[0]
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	dcfg, err := cfg.deflateConfig()
	if err != nil {
		return refuse(http.StatusInternalServerError, err.Error())
	}
	check := cfg.CheckOrigin
	if check == nil {
		check = sameOrigin
	}
	if !check(r) {
		return refuse(http.StatusForbidden, "origin not allowed")
	}
	subprotocol := ""
	if len(cfg.Subprotocols) > 0 {
		offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	pick:
		for _, want := range cfg.Subprotocols {
			for _, o := range offered {
				if o == want {
					subprotocol = want
					break pick
				}
			}
		}
	}

	ext, agreed, compress := acceptDeflate(r.Header, dcfg.mode)

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, &HandshakeError{Op: "upgrade", Status: http.StatusInternalServerError, Reason: "connection cannot be hijacked: " + err.Error()}
	}
	set := cfg.settings()
	// §4.2.2 item 5: status 101, Upgrade, Connection and the accept key.
	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	bw.WriteString(acceptKey(key))
	if subprotocol != "" {
		bw.WriteString("\r\nSec-WebSocket-Protocol: ")
		bw.WriteString(subprotocol)
	}
	if compress {
		bw.WriteString("\r\nSec-WebSocket-Extensions: ")
		bw.WriteString(ext)
	}
	bw.WriteString("\r\n\r\n")
	if set.writeTimeout > 0 {
		netConn.SetWriteDeadline(time.Now().Add(set.writeTimeout))
	}
	if err := bw.Flush(); err != nil {
		netConn.Close()
		return nil, &HandshakeError{Op: "upgrade", Reason: "writing the response: " + err.Error()}
	}
	netConn.SetDeadline(time.Time{})
	// The hijacked reader may hold frames the client sent along with its
	// handshake; it becomes the connection's reader.
	c := newConn(netConn, brw.Reader, bw, false, set, subprotocol)
	if compress {
		c.enableDeflate(dcfg, agreed)
		c.extensions = ext
	}
	return c, nil
}
