package load

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// dialParallel is how many handshakes are in flight at once while opening
// many connections.
const dialParallel = 64

// connectAll opens n connections to path, dialParallel at a time, each
// handshake bounded by 10 seconds. On any failure it closes those opened
// and returns the error.
func connectAll(ctx context.Context, addr, path string, proto Protocol, n int) ([]*Conn, error) {
	return connectAllOpts(ctx, addr, path, proto, n, func(int) dialOptions { return dialOptions{} })
}

// connectAllBuf is connectAll with the receive buffer of connection i set
// to rcvBuf(i) bytes (0 leaves the system's default).
func connectAllBuf(ctx context.Context, addr, path string, proto Protocol, n int, rcvBuf func(i int) int) ([]*Conn, error) {
	return connectAllOpts(ctx, addr, path, proto, n, func(i int) dialOptions { return dialOptions{rcvBuf: rcvBuf(i)} })
}

// connectAllOpts is connectAll with connection i dialled with opts(i).
func connectAllOpts(ctx context.Context, addr, path string, proto Protocol, n int, opts func(i int) dialOptions) ([]*Conn, error) {
	conns := make([]*Conn, n)
	sem := make(chan struct{}, dialParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := dial(dctx, addr, path, proto, opts(i))
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("load: connection %d of %d: %w", i+1, n, err)
				}
				mu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if first != nil {
		closeAll(conns)
		return nil, first
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
