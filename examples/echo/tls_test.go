package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
	"github.com/stdrealtime/realtime/stream"
)

// TestTLSPage serves with -tls: the page and /sockets come over HTTP/2,
// and a WebSocket over HTTP/1.1 (Dial's transport) echoes and is counted
// as such.
func TestTLSPage(t *testing.T) {
	exampletest.CheckGoroutines(t)
	*useTLS = true
	t.Cleanup(func() { *useTLS = false })
	in := exampletest.Start(t, run)
	insecure := &tls.Config{InsecureSkipVerify: true}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	base := strings.Replace(in.URL, "http://", "https://", 1)

	res, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 {
		t.Fatalf("page: %s over %s, want 200 over HTTP/2", res.Status, res.Proto)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, _, err := stream.Dial(dctx, "wss://"+in.Addr+"/ws", stream.DialConfig{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteString("over TLS"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "over TLS" {
		t.Fatalf("echo: %q, %v", p, err)
	}
	c.Close()

	res, err = client.Get(base + "/sockets")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var counts struct {
		HTTP1, HTTP2    int
		ExtendedConnect bool
		PageProto       string
	}
	if err := json.NewDecoder(res.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	if counts.HTTP1 != 1 || counts.HTTP2 != 0 || counts.PageProto != "HTTP/2.0" || counts.ExtendedConnect != stream.ExtendedConnectEnabled() {
		t.Errorf("/sockets = %+v", counts)
	}
}
