package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

// cell holds the results of one implementation in one scenario, one per
// round that succeeded, and the last error.
type cell struct {
	results []load.Result
	err     error
}

func (c *cell) value(m metric) (float64, bool) {
	if len(c.results) == 0 {
		return 0, false
	}
	var sum float64
	for _, r := range c.results {
		sum += m.get(r)
	}
	return sum / float64(len(c.results)), true
}

// writeTable prints one markdown table for a family of implementations:
// a row per scenario metric, a column per implementation, then the ratios
// ours / best peer and ours / raw.
func writeTable(w io.Writer, title string, impls []implInfo, scs []scenario, cells map[string]map[string]*cell) {
	fmt.Fprintf(w, "\n### %s\n\n", title)
	var ours, raw string
	var peers []string
	header := []string{"scenario", "metric"}
	for _, impl := range impls {
		header = append(header, impl.name)
		switch {
		case impl.ours:
			ours = impl.name
		case impl.protocol == load.Raw:
			raw = impl.name
		default:
			peers = append(peers, impl.name)
		}
	}
	header = append(header, "ours/best peer", "ours/raw")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, sc := range scs {
		row := cells[sc.name]
		for _, m := range sc.metrics {
			line := []string{sc.name, m.label}
			for _, impl := range impls {
				c := row[impl.name]
				if c == nil {
					line = append(line, "—")
					continue
				}
				if v, ok := c.value(m); ok {
					line = append(line, format(v))
				} else if c.err != nil {
					line = append(line, "error")
				} else {
					line = append(line, "—")
				}
			}
			oursV, oursOK := get(row, ours, m)
			best, bestOK := 0.0, false
			for _, p := range peers {
				if v, ok := get(row, p, m); ok && (!bestOK || (m.higher && v > best) || (!m.higher && v < best)) {
					best, bestOK = v, true
				}
			}
			rawV, rawOK := get(row, raw, m)
			line = append(line, ratio(oursV, best, oursOK && bestOK), ratio(oursV, rawV, oursOK && rawOK))
			fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | "))
		}
	}
}

func get(row map[string]*cell, name string, m metric) (float64, bool) {
	if name == "" || row[name] == nil {
		return 0, false
	}
	return row[name].value(m)
}

func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// format prints a figure with three significant digits at most, grouping
// large numbers.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
