//go:build unix

package stream

import (
	"syscall"
	"time"
)

// bkProcessCPU returns the CPU time, user and system, used by this process
// so far, or 0 where it is unknown.
func bkProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
