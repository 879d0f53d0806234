// Command benchrun runs every benchmark scenario against every registered
// implementation, each in its own server process driven by benchload, and
// prints markdown tables of the figures and of the ratios ours / fastest
// peer and ours / raw TCP.
//
// Implementations are interleaved within each scenario, in alternating
// order from round to round, so that drift in the machine's load hits all
// of them alike. Run it from the benchmark module:
//
//	go run ./cmd/benchrun          # two rounds, six to ten minutes
//	go run ./cmd/benchrun -quick   # under two minutes, one short round
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

func main() {
	quick := flag.Bool("quick", false, "one short round of every scenario (under two minutes)")
	rounds := flag.Int("rounds", 0, "rounds per scenario (default 2, or 1 with -quick)")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	impls := flag.String("impls", "", "comma-separated implementations to run (default all)")
	flag.Parse()
	if *rounds <= 0 {
		*rounds = 2
		if *quick {
			*rounds = 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "benchrun")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	server, loader, err := buildTools(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	all, err := listImpls(ctx, server)
	if err != nil {
		log.Fatal(err)
	}
	if *impls != "" {
		want := strings.Split(*impls, ",")
		all = slices.DeleteFunc(all, func(i implInfo) bool { return !slices.Contains(want, i.name) })
	}
	var wsImpls, sseImpls []implInfo
	for _, impl := range all {
		switch impl.protocol {
		case load.WebSocket:
			wsImpls = append(wsImpls, impl)
		case load.SSE:
			sseImpls = append(sseImpls, impl)
		case load.Raw:
			wsImpls = append(wsImpls, impl)
			sseImpls = append(sseImpls, impl)
		}
	}
	var wsScs, sseScs []scenario
	for _, sc := range scenarios(*quick) {
		if *only != "" && !strings.Contains(sc.name, *only) {
			continue
		}
		if sc.sse {
			sseScs = append(sseScs, sc)
		} else {
			wsScs = append(wsScs, sc)
		}
	}
	start := time.Now()
	cells := map[string]map[string]*cell{}
	run := func(scs []scenario, impls []implInfo) {
		for _, sc := range scs {
			row := map[string]*cell{}
			cells[sc.name] = row
			for round := range *rounds {
				order := slices.Clone(impls)
				if round%2 == 1 {
					slices.Reverse(order)
				}
				for _, impl := range order {
					if ctx.Err() != nil {
						return
					}
					if sc.deflate && !impl.deflate {
						continue // no /echo-deflate: "—" in the table
					}
					c := row[impl.name]
					if c == nil {
						c = &cell{}
						row[impl.name] = c
					}
					r, err := runOne(ctx, server, loader, impl, sc)
					if err != nil {
						c.err = err
						log.Printf("%s: %v", sc.name, err)
						continue
					}
					c.results = append(c.results, r)
					log.Printf("%-36s %-10s %12.0f/s p99 %8.0fµs losses %d failed conns %d", sc.name, impl.name, r.Rate, r.P99us, r.Losses, r.Failed)
				}
			}
		}
	}
	run(wsScs, wsImpls)
	run(sseScs, sseImpls)

	fmt.Printf("## Benchmark results\n\n%s\n", machine(*quick, *rounds, time.Since(start)))
	if len(wsScs) > 0 {
		writeTable(os.Stdout, "WebSocket (and raw TCP)", wsImpls, wsScs, cells)
	}
	if len(sseScs) > 0 {
		writeTable(os.Stdout, "Server-Sent Events (and raw TCP)", sseImpls, sseScs, cells)
	}
	fmt.Println("\nRatios are ours / best peer and ours / raw: above 1 is better for rates, below 1 is better for latency, losses, memory and wire bytes. \"—\" means an implementation or figure is missing.")
	var failed []string
	for _, sc := range append(wsScs, sseScs...) {
		for name, c := range cells[sc.name] {
			if c.err != nil {
				failed = append(failed, fmt.Sprintf("- %s / %s: %v", sc.name, name, c.err))
			}
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		fmt.Printf("\nFailed runs:\n%s\n", strings.Join(failed, "\n"))
	}
}

// machine describes where and how the figures were taken.
func machine(quick bool, rounds int, took time.Duration) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mode := "full"
	if quick {
		mode = "quick"
	}
	return fmt.Sprintf("%s, %d CPUs, %s %s/%s; %s mode, %d round(s), took %s, %s.",
		cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, mode, rounds,
		took.Round(time.Second), time.Now().UTC().Format("2006-01-02"))
}
