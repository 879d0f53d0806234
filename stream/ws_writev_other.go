//go:build !linux

package stream

import "time"

// writeWaiter is unused where frames go out through the transport's own
// Write: every frame write sets the write deadline first.
type writeWaiter struct{}

func newWriteWaiter(any, time.Duration) *writeWaiter { return nil }

func (*writeWaiter) write([][]byte) error { panic("unreachable") }
