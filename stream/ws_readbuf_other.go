//go:build !unix

package stream

import "io"

// readWaiter is unused where reads cannot wait for readiness without a
// buffer; every read goes through io.Reader.
type readWaiter struct{}

func newReadWaiter(io.Reader, *connReader) *readWaiter { return nil }

func (*readWaiter) read([]byte) (int, error) { panic("unreachable") }
