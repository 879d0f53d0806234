package stream

import (
	"strings"
	"testing"
)

func TestRelayOutageRanges(t *testing.T) {
	var o relayOutage
	for _, a := range [][2]uint64{{3, 3}, {4, 3}, {5, 3}, {9, 9}, {10, 9}, {20, 20}} {
		if first := o.add(a[0]); first != a[1] {
			t.Fatalf("add(%d) = %d, want the run's first %d", a[0], first, a[1])
		}
	}
	cases := []struct {
		seq  uint64
		want bool
	}{
		{1, false},  // before the outage
		{3, true},   // provisional
		{4, true},   // provisional
		{6, false},  // between outages; 5 never came (trimmed): forgotten
		{9, true},   // the next outage
		{10, true},  //
		{10, false}, // already taken
		{21, false}, // 20 is forgotten: numbers come in increasing order
	}
	for _, tc := range cases {
		if got := o.take(tc.seq); got != tc.want {
			t.Fatalf("take(%d) = %v, want %v", tc.seq, got, tc.want)
		}
	}
	if len(o.ranges) != 0 {
		t.Fatalf("ranges left: %v", o.ranges)
	}
}

// FuzzProvisionalID checks that a provisional ID names the log position
// and the events it was made from, and that any Last-Event-ID maps to a
// log position without the separator that is a prefix of it.
func FuzzProvisionalID(f *testing.F) {
	f.Add("1700000000000-5", uint64(3), uint64(17), "1700000000000-5~0a1b2c3d.3.17")
	f.Add("", uint64(1), uint64(1), "~")
	f.Add("7-0", uint64(5), uint64(1<<63), "a~b~c")
	f.Add("1-0", uint64(2), uint64(1), "1-0~0a1b2c3d.0.4")
	f.Fuzz(func(t *testing.T, base string, first, seq uint64, id string) {
		if !strings.ContainsRune(base, provisionalSep) && first > 0 && first <= seq {
			var origin relayOrigin
			copy(origin[:], base)
			p := appendProvisionalID(nil, base, provisionalOrigin(origin[:4]), first, seq)
			if got := provisionalLogID(p); got != base {
				t.Fatalf("provisional ID %q of %q names %q", p, base, got)
			}
			h, ok := parseProvisionalID(p)
			if !ok || !h.has(origin, first) || !h.has(origin, seq) || h.has(origin, first-1) || seq < 1<<63 && h.has(origin, seq+1) {
				t.Fatalf("provisional ID %q parsed as %+v, %v", p, h, ok)
			}
		}
		if h, ok := parseProvisionalID(id); ok && (h.first == 0 || h.first > h.last) {
			t.Fatalf("parseProvisionalID(%q) = %+v", id, h)
		}
		got := provisionalLogID(id)
		if !strings.HasPrefix(id, got) || strings.ContainsRune(got, provisionalSep) {
			t.Fatalf("provisionalLogID(%q) = %q", id, got)
		}
		if !strings.ContainsRune(id, provisionalSep) && got != id {
			t.Fatalf("provisionalLogID(%q) = %q, want the ID itself", id, got)
		}
	})
}
