package stream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
)

// handshakeHeaders may not be set through DialConfig.Header.
var handshakeHeaders = []string{"Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Accept"}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455
// §4.1). The TCP and TLS connection and the whole handshake are bounded
// by ctx. On success it returns the connection and the server's 101
// response. When the server answers with another status, it returns a
// *HandshakeError and that response, whose body (up to 4 KiB) stays
// readable. Every frame the connection sends is masked with a fresh key
// from crypto/rand. Safe for concurrent use.
func Dial(ctx context.Context, rawURL string, cfg DialConfig) (*WebSocketConn, *http.Response, error) {
	fail := func(status int, reason string) error {
		return &HandshakeError{Op: "dial", Status: status, Reason: reason}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fail(0, "invalid URL: "+err.Error())
	}
	var secure bool
	switch strings.ToLower(u.Scheme) {
	case "ws":
	case "wss":
		secure = true
	default:
		return nil, nil, fail(0, "URL scheme must be ws or wss")
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, nil, fail(0, "URL must have a host and no user info or fragment")
	}
	addr := u.Host
	if u.Port() == "" {
		if secure {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	if _, err := cfg.deflateConfig(); err != nil {
		return nil, nil, fail(0, err.Error())
	}
	for _, p := range cfg.Subprotocols {
		if !validToken(p) {
			return nil, nil, fail(0, "invalid subprotocol "+p)
		}
	}
	for name, vals := range cfg.Header {
		if slices.Contains(handshakeHeaders, textproto.CanonicalMIMEHeaderKey(name)) {
			return nil, nil, fail(0, "header "+name+" is set by the handshake")
		}
		if !validToken(name) {
			return nil, nil, fail(0, "invalid header name "+name)
		}
		for _, v := range vals {
			if !validHeaderValue(v) {
				return nil, nil, fail(0, "invalid value for header "+name)
			}
		}
	}

	dial := cfg.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	netConn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &HandshakeError{Op: "dial", Reason: err.Error()}
	}
	// Bound the handshake by ctx: its deadline, and its cancellation
	// through an immediate deadline.
	if d, ok := ctx.Deadline(); ok {
		netConn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { netConn.SetDeadline(time.Unix(1, 0)) })
	conn, resp, err := handshake(ctx, netConn, u, secure, cfg)
	if !stop() && err == nil {
		err = ctx.Err()
		conn = nil
	}
	if err != nil {
		netConn.Close()
		if ctx.Err() != nil && !errors.As(err, new(*HandshakeError)) {
			err = &HandshakeError{Op: "dial", Reason: ctx.Err().Error()}
		}
		return nil, resp, err
	}
	netConn.SetDeadline(time.Time{})
	return conn, resp, nil
}

func handshake(ctx context.Context, netConn net.Conn, u *url.URL, secure bool, cfg DialConfig) (*WebSocketConn, *http.Response, error) {
	fail := func(status int, reason string) error {
		return &HandshakeError{Op: "dial", Status: status, Reason: reason}
	}
	var rwc net.Conn = netConn
	if secure {
		tcfg := &tls.Config{}
		if cfg.TLSConfig != nil {
			tcfg = cfg.TLSConfig.Clone()
		}
		if tcfg.ServerName == "" {
			tcfg.ServerName = u.Hostname()
		}
		// The upgrade is an HTTP/1.1 exchange.
		tcfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(netConn, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fail(0, "TLS handshake: "+err.Error())
		}
		rwc = tc
	}
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	bw := bufio.NewWriterSize(rwc, 4096)
	bw.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n")
	if len(cfg.Subprotocols) > 0 {
		bw.WriteString("Sec-WebSocket-Protocol: " + strings.Join(cfg.Subprotocols, ", ") + "\r\n")
	}
	if offer := deflateOfferFor(cfg.Compression); offer != "" {
		bw.WriteString("Sec-WebSocket-Extensions: " + offer + "\r\n")
	}
	for name, vals := range cfg.Header {
		for _, v := range vals {
			bw.WriteString(name + ": " + v + "\r\n")
		}
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return nil, nil, fail(0, "sending the request: "+err.Error())
	}

	br := bufio.NewReaderSize(rwc, 4096)
	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fail(0, "reading the response: "+err.Error())
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// Keep a bounded body readable for the caller.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fail(resp.StatusCode, "server did not switch protocols")
	}
	// §4.1, client requirements 1-6 on the server's response.
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return nil, resp, fail(resp.StatusCode, "response lacks Upgrade: websocket")
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, resp, fail(resp.StatusCode, "response lacks Connection: Upgrade")
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		return nil, resp, fail(resp.StatusCode, "wrong Sec-WebSocket-Accept")
	}
	agreed, compress, err := checkDeflateResponse(resp.Header.Values("Sec-WebSocket-Extensions"), cfg.Compression)
	if err != nil {
		return nil, resp, fail(resp.StatusCode, err.Error())
	}
	sub := ""
	if vals := resp.Header.Values("Sec-WebSocket-Protocol"); len(vals) > 0 {
		if len(vals) > 1 || !slices.Contains(cfg.Subprotocols, vals[0]) {
			return nil, resp, fail(resp.StatusCode, "server selected a subprotocol that was not offered")
		}
		sub = vals[0]
	}
	// A 101 response has no body; frames that followed it sit in br.
	resp.Body = http.NoBody
	c := newConn(rwc, br, bw, true, cfg.settings(), sub)
	if compress {
		dcfg, _ := cfg.deflateConfig() // checked by Dial
		c.enableDeflate(dcfg, agreed)
		c.extensions = strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
	}
	return c, resp, nil
}
