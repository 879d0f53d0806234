package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
	"github.com/stdrealtime/realtime/stream"
)

func TestEchoAndShutdown(t *testing.T) {
	exampletest.CheckGoroutines(t)
	in := exampletest.Start(t, run)

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, _, err := stream.Dial(dctx, "ws://"+in.Addr+"/ws", stream.DialConfig{ReadLimit: 16 << 20, WriteTimeout: time.Minute, Header: map[string][]string{"Origin": {"https://anywhere.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mt stream.MessageType
		p  []byte
	}{
		{stream.TextMessage, []byte("hello")},
		{stream.BinaryMessage, []byte{0, 1, 2}},
		{stream.TextMessage, nil},
		{stream.BinaryMessage, bytes.Repeat([]byte{7}, 16<<20)},
	}
	for _, tt := range tests {
		if err := c.WriteMessage(tt.mt, tt.p); err != nil {
			t.Fatal(err)
		}
		mt, p, err := c.ReadMessage()
		if err != nil || mt != tt.mt || !bytes.Equal(p, tt.p) {
			t.Fatalf("echo of %d bytes: type %v, %d bytes, %v", len(tt.p), mt, len(p), err)
		}
	}
	var stats echoStats
	exampletest.Vars(t, in.URL, "echo", &stats)
	if stats != (echoStats{Connections: 1, Accepted: 1, Messages: uint64(len(tests))}) {
		t.Fatalf("/debug/vars echo = %+v", stats)
	}

	// Shutdown closes the connection with 1001.
	in.Signal()
	if _, _, err := c.ReadMessage(); stream.CloseStatus(err) != stream.StatusGoingAway {
		t.Fatalf("after shutdown: %v", err)
	}
	in.Stop(t)
}
