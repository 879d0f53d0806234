package stream

import (
	"slices"
	"strconv"
	"testing"
)

// bkQueueHoldsRefs reports whether any slot of q still refers to an event
// or a key.
func bkQueueHoldsRefs(q *sseQueue) bool {
	return slices.ContainsFunc(q.bufs, func(b *[]byte) bool { return b != nil }) ||
		slices.ContainsFunc(q.keys, func(k string) bool { return k != "" })
}

// bkQueueContents returns the queue's items as "key=bytes" strings.
func bkQueueContents(q *sseQueue) []string {
	var out []string
	for i := range q.n {
		j := q.slot(i)
		key := ""
		if q.keys != nil {
			key = q.keys[j]
		}
		out = append(out, key+"="+string(*q.bufs[j]))
	}
	return out
}

// bkEvent returns b as a queue holds it.
func bkEvent(b []byte) *[]byte { return &b }

func TestSSEQueue(t *testing.T) {
	item := func(key string, v int) sseItem { return sseItem{b: bkEvent([]byte(strconv.Itoa(v))), key: key} }
	var q sseQueue
	const limit = 5
	for i := range limit {
		if !q.push(item("", i), limit) {
			t.Fatalf("push %d refused below the limit", i)
		}
	}
	if q.push(item("", 5), limit) {
		t.Fatal("push accepted over the limit")
	}
	if len(q.bufs) != limit {
		t.Fatalf("grew to %d slots, want the limit %d", len(q.bufs), limit)
	}
	// Wrap around: drop two, push two.
	q.dropOldest()
	q.dropOldest()
	q.push(item("", 5), limit)
	q.push(item("", 6), limit)
	if got, want := bkQueueContents(&q), []string{"=2", "=3", "=4", "=5", "=6"}; !slices.Equal(got, want) {
		t.Fatalf("after wrap: %q, want %q", got, want)
	}
	if got := string(q.appendTo([]byte("x"))); got != "x23456" {
		t.Fatalf("appendTo = %q", got)
	}
	if q.n != 0 || bkQueueHoldsRefs(&q) {
		t.Fatal("appendTo left items or references behind")
	}

	// removeKey keeps the order of the rest, across the wrap point.
	q = sseQueue{}
	for i, k := range []string{"a", "b", "c", "d"} {
		q.push(item(k, i), 4)
	}
	q.dropOldest()
	q.push(item("e", 4), 4) // head is now at slot 1
	if !q.removeKey("c") || q.removeKey("zz") {
		t.Fatal("removeKey result wrong")
	}
	if got, want := bkQueueContents(&q), []string{"b=1", "d=3", "e=4"}; !slices.Equal(got, want) {
		t.Fatalf("after removeKey: %q, want %q", got, want)
	}
	q.push(item("f", 5), 4)
	if !q.removeKey("b") || !q.removeKey("f") {
		t.Fatal("removeKey of first or last failed")
	}
	if got, want := bkQueueContents(&q), []string{"d=3", "e=4"}; !slices.Equal(got, want) {
		t.Fatalf("after removing ends: %q, want %q", got, want)
	}
	q.reset()
	if q.n != 0 || bkQueueHoldsRefs(&q) {
		t.Fatal("reset left items or references behind")
	}
	if !q.push(item("g", 6), 4) || len(bkQueueContents(&q)) != 1 {
		t.Fatal("queue unusable after reset")
	}
}

func TestSSEQueueGrowsLazily(t *testing.T) {
	var q sseQueue
	q.push(sseItem{b: bkEvent([]byte("x"))}, 1024)
	if len(q.bufs) > 4 {
		t.Fatalf("one item took %d slots", len(q.bufs))
	}
	for range 100 {
		q.push(sseItem{b: bkEvent([]byte("x"))}, 1024)
	}
	if q.n != 101 || len(q.bufs) > 256 {
		t.Fatalf("%d items in %d slots", q.n, len(q.bufs))
	}
}

func TestSSEReplay(t *testing.T) {
	r := sseReplay{limit: 4}
	if r.oldest() != 0 || r.after(0, nil) != nil {
		t.Fatal("empty ring not empty")
	}
	for seq := uint64(1); seq <= 6; seq++ {
		e := sseEntry{seq: seq, b: []byte(strconv.FormatUint(seq, 10)), name: "n" + strconv.FormatUint(seq%2, 10)}
		if seq == 4 || seq == 2 {
			e.id = "user" + strconv.FormatUint(seq, 10)
		}
		r.add(e)
	}
	seqs := func(es []sseEntry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.seq)
		}
		return out
	}
	if r.oldest() != 3 || r.n != 4 {
		t.Fatalf("oldest %d, n %d; want 3, 4", r.oldest(), r.n)
	}
	tests := []struct {
		after  uint64
		accept func(string) bool
		want   []uint64
	}{
		{0, nil, []uint64{3, 4, 5, 6}},
		{2, nil, []uint64{3, 4, 5, 6}},
		{4, nil, []uint64{5, 6}},
		{6, nil, nil},
		{3, func(n string) bool { return n == "n0" }, []uint64{4, 6}},
	}
	for _, tt := range tests {
		if got := seqs(r.after(tt.after, tt.accept)); !slices.Equal(got, tt.want) {
			t.Errorf("after(%d) = %v, want %v", tt.after, got, tt.want)
		}
	}
	if seq, ok := r.findUserID("user4"); !ok || seq != 4 {
		t.Errorf("findUserID(user4) = %d, %v", seq, ok)
	}
	if _, ok := r.findUserID("user2"); ok {
		t.Error("findUserID found an evicted entry")
	}
	if r.userIDs != 1 {
		t.Errorf("userIDs = %d, want 1", r.userIDs)
	}
}

func TestParseSSEID(t *testing.T) {
	tests := []struct {
		id   string
		seq  uint64
		want bool
	}{
		{"abc-0", 0, true},
		{"abc-42", 42, true},
		{"abc-18446744073709551615", 1<<64 - 1, true},
		{"abc-18446744073709551616", 0, false},
		{"abc-", 0, false},
		{"abc-+1", 0, false},
		{"abc--1", 0, false},
		{"abc-1x", 0, false},
		{"abc1", 0, false},
		{"abd-1", 0, false},
		{"xabc-1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		seq, ok := parseSSEID(tt.id, "abc")
		if ok != tt.want || seq != tt.seq {
			t.Errorf("parseSSEID(%q) = %d, %v; want %d, %v", tt.id, seq, ok, tt.seq, tt.want)
		}
	}
	if id := string(appendSSEID(nil, "abc", 7)); id != "abc-7" {
		t.Errorf("appendSSEID = %q", id)
	}
	if e1, e2 := newSSEEpoch(), newSSEEpoch(); e1 == e2 || len(e1) != 10 {
		t.Errorf("epochs %q and %q", e1, e2)
	}
}

// TestSSEQueueKeysLater checks a queue whose first items have no key and
// whose later ones do, across the ring's wrap and growth.
func TestSSEQueueKeysLater(t *testing.T) {
	var q sseQueue
	for i := range 3 {
		q.push(sseItem{b: bkEvent([]byte{'0' + byte(i)})}, 8)
	}
	q.dropOldest() // the ring now wraps once it fills
	for i, key := range []string{"a", "", "b"} {
		q.push(sseItem{b: bkEvent([]byte{'3' + byte(i)}), key: key}, 8)
	}
	if !q.removeKey("a") || q.removeKey("a") {
		t.Fatal("removeKey found the wrong items")
	}
	q.push(sseItem{b: bkEvent([]byte("6")), key: "c"}, 8)
	q.push(sseItem{b: bkEvent([]byte("7"))}, 8) // grows the ring and its keys
	want := []string{"=1", "=2", "=4", "b=5", "c=6", "=7"}
	if got := bkQueueContents(&q); !slices.Equal(got, want) {
		t.Fatalf("contents %q, want %q", got, want)
	}
	if got := string(q.appendTo(nil)); got != "124567" || bkQueueHoldsRefs(&q) {
		t.Fatalf("appendTo = %q, or references left behind", got)
	}
}
