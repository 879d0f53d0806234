package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

// implInfo is one line of `benchserver -list`.
type implInfo struct {
	name     string
	protocol load.Protocol
	ours     bool
	deflate  bool // serves /echo-deflate
}

// buildTools compiles benchserver and benchload into dir and returns their
// paths.
func buildTools(ctx context.Context, dir string) (server, loader string, err error) {
	mod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("benchrun: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator), "./cmd/benchserver", "./cmd/benchload")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("benchrun: build: %w", err)
	}
	return filepath.Join(dir, "benchserver"), filepath.Join(dir, "benchload"), nil
}

func listImpls(ctx context.Context, server string) ([]implInfo, error) {
	out, err := exec.CommandContext(ctx, server, "-list").Output()
	if err != nil {
		return nil, fmt.Errorf("benchrun: list implementations: %w", err)
	}
	var impls []implInfo
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		ours, _ := strconv.ParseBool(f[2])
		deflate, _ := strconv.ParseBool(f[3])
		impls = append(impls, implInfo{name: f[0], protocol: load.Protocol(f[1]), ours: ours, deflate: deflate})
	}
	return impls, nil
}

// runOne starts a fresh server for impl, runs sc against it with benchload
// and stops the server.
func runOne(ctx context.Context, server, loader string, impl implInfo, sc scenario) (load.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, sc.warmup+sc.measure+90*time.Second)
	defer cancel()
	srv := exec.Command(server, "-impl", impl.name)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return load.Result{}, err
	}
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		return load.Result{}, fmt.Errorf("benchrun: start %s: %w", impl.name, err)
	}
	defer stopServer(srv)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	var addr string
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "listening ") {
			return load.Result{}, fmt.Errorf("benchrun: %s did not start: %s", impl.name, srvErr.String())
		}
		addr = strings.TrimPrefix(line, "listening ")
	case <-time.After(10 * time.Second):
		return load.Result{}, fmt.Errorf("benchrun: %s did not start in time", impl.name)
	}
	args := []string{
		"-scenario", sc.load, "-addr", addr, "-pid", strconv.Itoa(srv.Process.Pid),
		"-protocol", string(impl.protocol), "-conns", strconv.Itoa(sc.conns), "-size", strconv.Itoa(sc.size),
		"-warmup", sc.warmup.String(), "-duration", sc.measure.String(),
		"-rate", strconv.FormatFloat(sc.rate, 'g', -1, 64),
		"-timeout", (sc.warmup + sc.measure + 80*time.Second).String(),
	}
	ld := exec.CommandContext(ctx, loader, args...)
	var out, errOut bytes.Buffer
	ld.Stdout, ld.Stderr = &out, &errOut
	runErr := ld.Run()
	var r load.Result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil && runErr == nil {
		runErr = fmt.Errorf("benchrun: result of %s: %w", impl.name, err)
	}
	if runErr != nil {
		msg := strings.TrimSpace(errOut.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return r, fmt.Errorf("%s: %w: %s", impl.name, runErr, msg)
	}
	return r, nil
}

// stopServer asks the server to stop and kills it after five seconds.
func stopServer(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
