package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux platform Go supports.
const clockTicks = 100

// serverCPU returns the CPU time (user + system) the process pid has used,
// or 0 when pid is 0 or /proc cannot be read.
func serverCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// After the command: state is field 3, utime 14 and stime 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTicks
}

// serverRSS returns the resident set size of pid in KiB, 0 when unknown.
func serverRSS(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}

type debugInfo struct {
	PID        int `json:"pid"`
	Goroutines int `json:"goroutines"`
}

// serverDebug fetches /debug from the server, collecting garbage first if gc.
func serverDebug(ctx context.Context, addr string, gc bool) (debugInfo, error) {
	url := "http://" + addr + "/debug"
	if gc {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return debugInfo{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return debugInfo{}, fmt.Errorf("load: debug: %w", err)
	}
	defer resp.Body.Close()
	var d debugInfo
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return debugInfo{}, fmt.Errorf("load: debug: %w", err)
	}
	return d, nil
}
