package exampleserver

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// DefaultAddr is the default of the -addr flag: loopback only.
const DefaultAddr = "127.0.0.1:8080"

// Main is an example command's main function. It defines the -addr flag
// (default DefaultAddr) next to the flags the caller defined, parses the
// command line, logs through log/slog as text on standard error, listens,
// prints "<name>: http://<addr>/ <hint>" on standard output, and calls
// run with a context that ends on SIGINT or SIGTERM. It exits with status
// 1 if listening or run fails; it returns when run returned nil.
func Main(name, hint string, run func(ctx context.Context, ln net.Listener, log *slog.Logger) error) {
	addr := flag.String("addr", DefaultAddr, "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	fmt.Printf("%s: http://%s/ %s (Ctrl-C to stop)\n", name, ln.Addr(), hint)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, ln, log)
	stop()
	if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
