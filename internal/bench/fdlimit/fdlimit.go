// Package fdlimit raises the process's open-file limit, which the
// benchmark's ten thousand connections per process need.
package fdlimit

import (
	"fmt"
	"syscall"
)

// Raise sets the soft RLIMIT_NOFILE to the hard limit and returns the new
// soft limit. It is safe for concurrent use.
func Raise() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("fdlimit: getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("fdlimit: setrlimit: %w", err)
		}
	}
	return l.Cur, nil
}
