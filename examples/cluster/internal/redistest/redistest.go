// Package redistest runs a real redis-server for tests: on 127.0.0.1, on
// a free port, in the test's own temporary directory, stopped at the end
// of the test.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Server is a redis-server process that can be killed and restarted on
// the same port and directory.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	durable bool
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start starts redis-server. With durable, every write is appended to an
// AOF file and fsynced before Redis answers (--appendonly yes
// --appendfsync always), so that a killed server restarts with all it
// acknowledged; otherwise nothing is persisted (an empty --save and
// --appendonly no). Start skips the test when redis-server is not installed, unless the
// CI environment variable is set: then it fails it.
func Start(t testing.TB, durable bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("redis-server not installed")
		}
		t.Fatalf("redis-server is required in CI: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), durable: durable}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *Server) start() {
	s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"),
	}
	if s.durable {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)

	c := NewClient(s.Addr())
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not answering on %s: %v", s.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond) // polling another process
	}
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it
// to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// NewClient returns a go-redis client for addr with short timeouts, as
// tests of outages need.
func NewClient(addr string) *redis.Client { return NewUserClient(addr, "", "") }

// NewUserClient is NewClient for the ACL user user.
func NewUserClient(addr, user, password string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            addr,
		Username:        user,
		Password:        password,
		DialTimeout:     time.Second,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
		MaxRetries:      -1, // the relay retries with its own backoff
		DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
}

// Quiet silences go-redis's own logger for the rest of the process.
func Quiet() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// String describes the server, for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr()) }
