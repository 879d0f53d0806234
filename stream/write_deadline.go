package stream

import "time"

// lazyDeadline decides when a connection's write deadline moves, so that a
// busy connection does not set one for every write. The deadline is set an
// eighth further than the timeout t ahead and moved once less than t of it
// is left: every write still gets at least t, a write that is stuck fails
// within 9/8 of t, and the deadline moves at most every t/8.
type lazyDeadline struct {
	moveAt int64 // clock reading from which the deadline moves; 0 before the first
}

// move reports whether the deadline must be moved at now, a reading of a
// monotonic clock in nanoseconds, and if so records that it was; the new
// deadline is ahead(t) from now.
func (d *lazyDeadline) move(now int64, t time.Duration) bool {
	if d.moveAt != 0 && now < d.moveAt {
		return false
	}
	d.moveAt = max(now+int64(t/8), 1)
	return true
}

// ahead is how far ahead of now a moved deadline is set for timeout t.
func (lazyDeadline) ahead(t time.Duration) time.Duration { return t + t/8 }
