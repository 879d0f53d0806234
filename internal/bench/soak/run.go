package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/fdlimit"
	"github.com/stdrealtime/realtime/internal/bench/load"
)

// Default is the full soak: 10,000 WebSocket and 2,000 SSE clients, 1 %
// of each stalled, 2 broadcasts of 1 KiB per second (24,000 deliveries
// per second), 30 seconds of warm-up and five minutes measured.
func Default() load.SoakConfig {
	return load.SoakConfig{
		WS: 10000, SSE: 2000, StallEvery: 100, StalledRcvBuf: 4096,
		Rate: 2, Size: 1024,
		Warmup: 30 * time.Second, Duration: 5 * time.Minute, SampleEvery: 5 * time.Second,
	}
}

// Quick is the CI-sized soak: 1,000 WebSocket and 200 SSE clients for 10
// seconds after 3 of warm-up, at 5 broadcasts per second.
func Quick() load.SoakConfig {
	return load.SoakConfig{
		WS: 1000, SSE: 200, StallEvery: 100, StalledRcvBuf: 4096,
		Rate: 5, Size: 1024,
		Warmup: 3 * time.Second, Duration: 10 * time.Second, SampleEvery: time.Second,
	}
}

// Run starts the soak server with server (a command that calls Serve and
// keeps its stdin open), runs load.Soak against it with cfg and stops it.
// Its Addr and PID are filled in from the server.
func Run(ctx context.Context, server *exec.Cmd, cfg load.SoakConfig) (load.SoakResult, error) {
	if _, err := fdlimit.Raise(); err != nil && cfg.Logf != nil {
		cfg.Logf("%v", err)
	}
	stdin, err := server.StdinPipe()
	if err != nil {
		return load.SoakResult{}, fmt.Errorf("soak: server: %w", err)
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		return load.SoakResult{}, fmt.Errorf("soak: server: %w", err)
	}
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		return load.SoakResult{}, fmt.Errorf("soak: server: %w", err)
	}
	defer func() {
		stdin.Close() // the server's signal to stop
		done := make(chan error, 1)
		go func() { done <- server.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = server.Process.Kill()
			<-done
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() { // keep the pipe drained
		}
	}()
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			return load.SoakResult{}, errors.New("soak: server did not start")
		}
		cfg.Addr = addr
	case <-time.After(30 * time.Second):
		return load.SoakResult{}, errors.New("soak: server did not start within 30s")
	case <-ctx.Done():
		return load.SoakResult{}, ctx.Err()
	}
	cfg.PID = server.Process.Pid
	return load.Soak(ctx, cfg)
}
