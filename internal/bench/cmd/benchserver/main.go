// Command benchserver runs one benchmark server implementation on
// 127.0.0.1 until it is interrupted. Its first line of output is
// "listening <host:port>".
//
//	benchserver -impl gorilla [-addr 127.0.0.1:0]
//	benchserver -list   # name protocol ours deflate (serves /echo-deflate)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/fdlimit"
	"github.com/stdrealtime/realtime/internal/bench/server"
)

func main() {
	implName := flag.String("impl", "", "implementation to run")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	list := flag.Bool("list", false, "print the implementations, one per line: name protocol ours deflate")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *list {
		for _, impl := range server.All() {
			s := impl.New()
			_, deflate := s.(server.DeflateEchoer)
			s.Close()
			fmt.Println(impl.Name, impl.Protocol, impl.Ours, deflate)
		}
		return
	}
	impl, ok := server.Lookup(*implName)
	if !ok {
		log.Fatalf("benchserver: unknown implementation %q (see -list)", *implName)
	}
	if _, err := fdlimit.Raise(); err != nil {
		log.Printf("benchserver: %v", err)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("benchserver: %s is not a loopback address", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("benchserver: listen: %v", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("benchserver: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("benchserver: %v", err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	s := impl.New()
	srv := &http.Server{Handler: server.Handler(s, impl.Protocol), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatalf("benchserver: serve: %v", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
