package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/json"
	"flag"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// With -tls the server speaks HTTPS with HTTP/2 and a self-signed
// certificate made at start, and serves a page at / that opens a
// WebSocket to its own origin. Browsers carry that WebSocket over the
// page's HTTP/2 connection (RFC 8441) when the server advertises
// extended CONNECT, which net/http does only when the program starts
// with GODEBUG=http2xconnect=1 in its environment; otherwise they open
// it over HTTP/1.1. /sockets counts the WebSocket handshakes seen over
// each.

//go:embed page.html
var page []byte

var useTLS = flag.Bool("tls", false, "serve HTTPS with HTTP/2, a self-signed certificate and a test page at /")

// withTLS switches the server to TLS on ln, with the test page in front
// of h, and logs whether WebSocket over HTTP/2 is on.
func withTLS(ln net.Listener, h http.Handler, log *slog.Logger) (net.Listener, http.Handler, error) {
	tl, err := tlsListener(ln)
	if err != nil {
		return nil, nil, err
	}
	log.Info("serving HTTPS with HTTP/2", "url", "https://"+ln.Addr().String()+"/",
		"extendedConnect", stream.ExtendedConnectEnabled(), "enable", "GODEBUG=http2xconnect=1 at start")
	return tl, withPage(h), nil
}

// tlsListener wraps l in TLS offering HTTP/2 and HTTP/1.1, with a
// self-signed certificate for 127.0.0.1, ::1 and localhost.
func tlsListener(l net.Listener) (net.Listener, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "echo example"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		// http.Server.Serve turns HTTP/2 on for a TLS listener that
		// offers "h2".
		NextProtos: []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
	return tls.NewListener(l, cfg), nil
}

// socketCounts counts WebSocket handshakes by transport.
type socketCounts struct {
	http1, http2 atomic.Int64
}

// count wraps the WebSocket endpoint h.
func (s *socketCounts) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ProtoMajor == 2 && r.Method == http.MethodConnect:
			s.http2.Add(1)
		case r.ProtoMajor == 1 && r.Method == http.MethodGet:
			s.http1.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// withPage serves the test page at /, the counts at /sockets and
// everything else with h, counting the handshakes at /ws.
func withPage(h http.Handler) http.Handler {
	var counts socketCounts
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Write(page)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /sockets", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"http1":           counts.http1.Load(),
			"http2":           counts.http2.Load(),
			"extendedConnect": stream.ExtendedConnectEnabled(),
			"pageProto":       r.Proto,
		})
	})
	mux.Handle("/ws", counts.count(h))
	mux.Handle("/", h)
	return mux
}
