package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
	"github.com/stdrealtime/realtime/stream"
)

func testConfig() config {
	cfg := defaultConfig()
	cfg.interval = 10 * time.Millisecond
	cfg.retry = 10 * time.Millisecond
	cfg.keep = 10000 // far more than a test publishes while a client is away
	return cfg
}

// testServer serves the dashboard's handler over httptest, without
// sampling: the test publishes samples itself.
func testServer(t *testing.T, cfg config) (*server, *httptest.Server) {
	t.Helper()
	s, err := newServer(cfg, exampletest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		s.broker.Close()
		ts.Close()
		s.journal.Close()
	})
	return s, ts
}

// seqOf returns the sequence number of a sample's ID "<stream>-<seq>" and
// its stream.
func seqOf(t *testing.T, id string) (string, uint64) {
	t.Helper()
	i := strings.LastIndexByte(id, '-')
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if i < 0 || err != nil {
		t.Fatalf("event ID %q is not <stream>-<seq>", id)
	}
	return id[:i], seq
}

func TestPage(t *testing.T) {
	_, ts := testServer(t, testConfig())
	exampletest.Pages(t, ts.URL, map[string]string{
		"/":              "text/html",
		"/dashboard.js":  "text/javascript",
		"/dashboard.css": "text/css",
		"/favicon.svg":   "image/svg+xml",
	})
}

// TestSamples reads samples over SSE and checks their IDs, data and the
// reconnection delay the server sets.
func TestSamples(t *testing.T) {
	cfg := testConfig()
	cfg.retry = 750 * time.Millisecond
	s, ts := testServer(t, cfg)
	s.publishSample() // before the client joins: not sent to it

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := stream.ConnectSSE(ctx, ts.URL+"/events", stream.SSEClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for want := uint64(2); want <= 4; want++ {
		if err := s.publishSample(); err != nil {
			t.Fatal(err)
		}
		e, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != stream.Custom || e.Name != "sample" {
			t.Fatalf("event %+v, want a sample", e)
		}
		if name, seq := seqOf(t, e.ID); name != s.journal.Stream() || seq != want {
			t.Fatalf("event ID %q, want %s-%d", e.ID, s.journal.Stream(), want)
		}
		var got sample
		if err := json.Unmarshal([]byte(e.Data), &got); err != nil {
			t.Fatalf("sample %q: %v", e.Data, err)
		}
		if got.Goroutines == 0 || got.HeapBytes == 0 || got.TotalBytes == 0 || got.Subscribers != 1 ||
			got.Requests == 0 || got.UptimeSeconds <= 0 || time.Since(got.Time) > time.Minute {
			t.Fatalf("implausible sample %+v", got)
		}
	}
	if r := c.Retry(); r != cfg.retry {
		t.Fatalf("reconnection time %v, want %v", r, cfg.retry)
	}
}

// switchDialer dials whatever address it was last given, whatever the
// URL says: one client URL for successive server instances.
type switchDialer struct{ addr atomic.Pointer[string] }

func (d *switchDialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, *d.addr.Load())
}

// startInstance runs the whole program on a free port.
func startInstance(t *testing.T, cfg config) *exampletest.Instance {
	t.Helper()
	return exampletest.Start(t, func(ctx context.Context, ln net.Listener, log *slog.Logger) error {
		return run(ctx, ln, cfg, log)
	})
}

// TestResumeAcrossRestart runs the program, reads samples with a client
// that reconnects as browsers do, stops the program and starts it again
// with the same journal: the client carries on with the next sample, none
// missed and none twice. Without a journal a restart begins a new stream
// and the client is told it has a gap.
func TestResumeAcrossRestart(t *testing.T) {
	tests := []struct {
		name     string
		journal  bool
		interval time.Duration
		before   int // samples read before the restart
		after    int // samples read after it
		wantGap  bool
	}{
		{"mid-stream", true, 10 * time.Millisecond, 5, 5, false},
		// The client has only the ID the server gave it on joining.
		{"before any sample", true, time.Hour, 0, 1, false},
		{"no journal", false, 10 * time.Millisecond, 3, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.interval = tt.interval
			if tt.journal {
				cfg.journal = filepath.Join(t.TempDir(), "samples.journal")
			}
			d := new(switchDialer)
			tr := &http.Transport{DialContext: d.dial}
			defer tr.CloseIdleConnections()

			first := startInstance(t, cfg)
			d.addr.Store(&first.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := stream.ConnectSSE(ctx, "http://dashboard/events", stream.SSEClientConfig{
				Client:   &http.Client{Transport: tr},
				MaxRetry: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			var ids []string
			read := func(n int) {
				t.Helper()
				for range n {
					e, err := c.Next()
					if err != nil {
						t.Fatal(err)
					}
					if e.Name != "sample" {
						if tt.wantGap && e.Name == "gap" {
							tt.wantGap = false // seen
							continue
						}
						t.Fatalf("event %q %q, want a sample", e.Name, e.Data)
					}
					ids = append(ids, e.ID)
				}
			}
			read(tt.before)
			first.Stop(t)
			second := startInstance(t, cfg)
			d.addr.Store(&second.Addr)
			read(tt.after)
			if tt.wantGap {
				t.Fatal("no gap event after a restart without journal")
			}

			if !tt.journal {
				return
			}
			stream0, seq0 := seqOf(t, ids[0])
			for i, id := range ids {
				if name, seq := seqOf(t, id); name != stream0 || seq != seq0+uint64(i) {
					t.Fatalf("sample IDs %q: not consecutive at %d", ids, i)
				}
			}
		})
	}
}

// TestRun starts the whole program on a free port, checks /debug/vars,
// and shuts it down with an open event stream.
func TestRun(t *testing.T) {
	exampletest.CheckGoroutines(t)
	in := startInstance(t, testConfig())
	url := in.URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := stream.ConnectSSE(ctx, url+"/events", stream.SSEClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}

	var stats stream.SSEBrokerStats
	exampletest.Vars(t, url, "dashboard", &stats)
	if stats.Subscribers != 1 || stats.Published < 2 {
		t.Fatalf("/debug/vars dashboard = %+v; want 1 subscriber, 2 or more published", stats)
	}

	in.Stop(t)
	if _, err := http.Get(url); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*config)
	}{
		{"zero interval", func(c *config) { c.interval = 0 }},
		{"zero keep", func(c *config) { c.keep = 0 }},
		{"journal in a missing directory", func(c *config) { c.journal = filepath.Join(t.TempDir(), "no", "such", "j") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(&cfg)
			if s, err := newServer(cfg, exampletest.Logger(t)); err == nil {
				s.broker.Close()
				t.Fatal("newServer accepted it")
			}
		})
	}
}
