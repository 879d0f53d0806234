package load

import "time"

// Result is what one scenario run measured. Ops are what the scenario
// counts: messages echoed, deliveries, or connections established.
type Result struct {
	Scenario string  `json:"scenario"`
	Impl     string  `json:"impl,omitempty"`
	Conns    int     `json:"conns"`
	Size     int     `json:"size"`
	Seconds  float64 `json:"seconds"`
	Ops      uint64  `json:"ops"`
	Rate     float64 `json:"rate"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	// Sent and Losses count messages (or deliveries) expected in the
	// measured window and how many never arrived.
	Sent   uint64 `json:"sent,omitempty"`
	Losses uint64 `json:"losses"`
	// ServerCPU is the server's CPU seconds in the window; OpsPerCPU is
	// Ops per server CPU-second.
	ServerCPU float64 `json:"server_cpu_s"`
	OpsPerCPU float64 `json:"ops_per_cpu_s"`
	// RSSKiBPerConn and GoroutinesPerConn are the server's growth per
	// connection (or subscriber) over its idle baseline.
	RSSKiBPerConn     float64 `json:"rss_kib_per_conn,omitempty"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`
	// WireBytesPerOp is, for WebSocket echo, the frame bytes sent and
	// received per round trip, headers included.
	WireBytesPerOp float64 `json:"wire_bytes_per_op,omitempty"`
	// Failed counts connections that could not be opened or broke.
	Failed int `json:"failed"`
}

// window measures the server's CPU over the measured part of a run.
type window struct {
	pid          int
	start, stopT time.Time
	cpu, stopCPU time.Duration
}

func startWindow(pid int) window {
	return window{pid: pid, start: time.Now(), cpu: serverCPU(pid)}
}

// stop marks the end of the measured part.
func (w *window) stop() {
	w.stopT = time.Now()
	w.stopCPU = serverCPU(w.pid)
}

// end fills Seconds, Rate, ServerCPU and OpsPerCPU of r from ops.
// It calls stop first unless the caller has.
func (w *window) end(r *Result, ops uint64) {
	if w.stopT.IsZero() {
		w.stop()
	}
	r.Seconds = w.stopT.Sub(w.start).Seconds()
	r.Ops = ops
	if r.Seconds > 0 {
		r.Rate = float64(ops) / r.Seconds
	}
	if w.pid > 0 {
		r.ServerCPU = (w.stopCPU - w.cpu).Seconds()
		if r.ServerCPU > 0 {
			r.OpsPerCPU = float64(ops) / r.ServerCPU
		}
	}
}
