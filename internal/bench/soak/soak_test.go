package soak

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveEnv makes the test binary run the soak server instead of the tests,
// so that the server is a process of its own, as under the soak command.
const serveEnv = "STDREALTIME_SOAK_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		if err := Serve(DefaultSendBuffer); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSoakQuick runs the CI-sized soak (1,000 WebSocket and 200 SSE
// clients, 10 s): healthy clients must lose nothing and see every
// broadcast in order, and the server's memory and goroutines at the end
// must stay within a generous factor of what they were after the
// warm-up. It asserts no timing.
func TestSoakQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped in -short mode")
	}
	cfg := Quick()
	cfg.Logf = t.Logf
	server := exec.Command(os.Args[0], "-test.run=^$")
	server.Env = append(os.Environ(), serveEnv+"=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, server, cfg)
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	t.Logf("\n%s", Markdown(res))

	if res.Published == 0 {
		t.Fatal("nothing was published in the window")
	}
	for _, k := range res.Classes {
		if k.Clients == 0 || k.Expected != res.Published*uint64(k.Clients) {
			t.Errorf("%s: %d clients expected %d broadcasts; %d were published", k.Name, k.Clients, k.Expected, res.Published)
		}
		if k.OutOfOrder != 0 {
			t.Errorf("%s: %d broadcasts out of order", k.Name, k.OutOfOrder)
		}
		if k.Stalled {
			continue
		}
		if k.Lost != 0 || k.Delivered != k.Expected || k.Disconnected != 0 || k.GapReported != 0 {
			t.Errorf("%s: lost %d of %d (delivered %d, gap events for %d), %d disconnected", k.Name, k.Lost, k.Expected, k.Delivered, k.GapReported, k.Disconnected)
		}
	}
	// Memory flatness, not timing: by the end of the window the server
	// holds no more than twice what it held after the warm-up.
	if res.WarmRSSKiB <= 0 || res.EndRSSKiB > 2*res.WarmRSSKiB {
		t.Errorf("server RSS after GC: %.0f KiB after warm-up, %.0f KiB at the end", res.WarmRSSKiB, res.EndRSSKiB)
	}
	if res.EndGoroutines > 2*res.WarmGoroutines {
		t.Errorf("server goroutines: %d after warm-up, %d at the end", res.WarmGoroutines, res.EndGoroutines)
	}

	// The report's outputs render.
	png := filepath.Join(t.TempDir(), "soak.png")
	if err := WritePNG(png, res); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("soak.png: %v", err)
	}
	if md := Markdown(res); !strings.Contains(md, "| healthy WS | 990 |") {
		t.Fatalf("report lacks the healthy WS row:\n%s", md)
	}
}
