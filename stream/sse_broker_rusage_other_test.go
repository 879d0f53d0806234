//go:build !unix

package stream

import "time"

// bkProcessCPU returns 0: the CPU time of the process is not measured here.
func bkProcessCPU() time.Duration { return 0 }
