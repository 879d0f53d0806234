package main

import (
	"runtime/metrics"
	"time"
)

// sample is one reading of the process's metrics, sent to pages as the
// JSON data of a "sample" event.
type sample struct {
	Time          time.Time `json:"time"`
	Started       time.Time `json:"started"`  // when this process started serving
	UptimeSeconds float64   `json:"uptime_s"` // of this process
	Goroutines    uint64    `json:"goroutines"`
	HeapBytes     uint64    `json:"heap_bytes"`   // bytes in live and not yet swept heap objects
	HeapObjects   uint64    `json:"heap_objects"` // objects in the heap
	TotalBytes    uint64    `json:"total_bytes"`  // memory mapped by the Go runtime
	GCCycles      uint64    `json:"gc_cycles"`    // completed since the process started
	Requests      uint64    `json:"requests"`     // HTTP requests received by this process
	Subscribers   int       `json:"subscribers"`  // open event streams
}

// The runtime/metrics read for a sample. Unlike runtime.ReadMemStats they
// do not stop the world.
var sampleMetrics = []string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/objects:objects",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

// sampler reads metrics into samples. It reuses its buffer, so it is used
// by one goroutine at a time.
type sampler struct {
	started time.Time
	buf     []metrics.Sample
}

func newSampler(started time.Time) *sampler {
	buf := make([]metrics.Sample, len(sampleMetrics))
	for i, name := range sampleMetrics {
		buf[i].Name = name
	}
	return &sampler{started: started, buf: buf}
}

// read returns a sample taken now; requests and subscribers come from the
// server.
func (s *sampler) read(requests uint64, subscribers int) sample {
	metrics.Read(s.buf)
	now := time.Now()
	return sample{
		Time:          now.UTC(),
		Started:       s.started.UTC(),
		UptimeSeconds: now.Sub(s.started).Seconds(),
		Goroutines:    metricUint(s.buf[0]),
		HeapBytes:     metricUint(s.buf[1]),
		HeapObjects:   metricUint(s.buf[2]),
		TotalBytes:    metricUint(s.buf[3]),
		GCCycles:      metricUint(s.buf[4]),
		Requests:      requests,
		Subscribers:   subscribers,
	}
}

// metricUint returns a metric's value, or 0 if this Go release does not
// support it.
func metricUint(m metrics.Sample) uint64 {
	if m.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m.Value.Uint64()
}
