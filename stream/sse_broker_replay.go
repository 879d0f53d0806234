package stream

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The IDs an SSEBroker with a replay ring gives events are
// "<epoch>-<seq>": epoch is random per broker, so an ID from before a
// restart (or from another broker) never matches an event of this one;
// seq counts the broker's published events from 1.

// newSSEEpoch returns a random 10-character hex epoch.
func newSSEEpoch() string {
	var b [5]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read documents it)
	return hex.EncodeToString(b[:])
}

// appendSSEID appends "<epoch>-<seq>".
func appendSSEID(dst []byte, epoch string, seq uint64) []byte {
	dst = append(dst, epoch...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, seq, 10)
}

// maxSSEIDLineLen bounds len("id: <epoch>-<seq>\n").
func maxSSEIDLineLen(epoch string) int {
	return len("id: ") + len(epoch) + len("-") + 20 + len("\n")
}

// parseSSEID returns the seq of an ID of this epoch.
func parseSSEID(id, epoch string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, epoch)
	if !ok || len(rest) < 2 || rest[0] != '-' || rest[1] < '0' || rest[1] > '9' {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest[1:], 10, 64)
	if err != nil {
		return 0, false
	}
	return seq, true
}

// sseEntry is an event kept for resume.
type sseEntry struct {
	seq  uint64
	b    []byte // encoded, including its id line
	name string // event name, for subscribers' filters
	id   string // the publisher's own ID; "" when the broker assigned it
}

// sseReplay is the ring of the last published events. Every published
// event enters it, so the seqs it holds are consecutive. Its backing array
// grows on demand up to its limit.
type sseReplay struct {
	entries []sseEntry
	head    int
	n       int
	limit   int
	userIDs int // entries with a publisher's own ID
}

func (r *sseReplay) slot(i int) int {
	i += r.head
	if i >= len(r.entries) {
		i -= len(r.entries)
	}
	return i
}

// add appends e, evicting the oldest entry when the ring is at its limit.
func (r *sseReplay) add(e sseEntry) {
	if r.n == r.limit {
		old := &r.entries[r.head]
		if old.id != "" {
			r.userIDs--
		}
		*old = sseEntry{}
		r.head = r.slot(1)
		r.n--
	}
	if r.n == len(r.entries) {
		entries := make([]sseEntry, min(max(2*len(r.entries), 16), r.limit))
		for i := range r.n {
			entries[i] = r.entries[r.slot(i)]
		}
		r.entries, r.head = entries, 0
	}
	r.entries[r.slot(r.n)] = e
	r.n++
	if e.id != "" {
		r.userIDs++
	}
}

// oldest returns the seq of the oldest entry, or 0 when the ring is empty.
func (r *sseReplay) oldest() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.entries[r.head].seq
}

// newestUserID returns the publisher's own ID of the newest entry if that
// entry is the event numbered seq and a client that holds the ID resumes
// with it as it is: it is valid UTF-8 (the client decodes it) and
// LastEventID neither cuts it at a CR, LF or NUL nor caps it at
// MaxLastEventIDLen; "" otherwise.
func (r *sseReplay) newestUserID(seq uint64) string {
	if r.n == 0 {
		return ""
	}
	e := &r.entries[r.slot(r.n-1)]
	if e.seq != seq || e.id == "" || len(e.id) > MaxLastEventIDLen ||
		strings.ContainsAny(e.id, "\r\n\x00") || !utf8.ValidString(e.id) {
		return ""
	}
	return e.id
}

// findUserID returns the seq of the newest entry published with the
// caller's own ID id.
func (r *sseReplay) findUserID(id string) (uint64, bool) {
	if r.userIDs == 0 {
		return 0, false
	}
	for i := r.n - 1; i >= 0; i-- {
		if e := &r.entries[r.slot(i)]; e.id == id {
			return e.seq, true
		}
	}
	return 0, false
}

// after returns copies of the entries with a seq greater than seq that
// pass accept (nil accepts all), oldest first.
func (r *sseReplay) after(seq uint64, accept func(name string) bool) []sseEntry {
	first := 0
	if r.n > 0 && seq >= r.oldest() {
		first = int(seq - r.oldest() + 1)
	}
	if first >= r.n {
		return nil
	}
	out := make([]sseEntry, 0, r.n-first)
	for i := first; i < r.n; i++ {
		e := r.entries[r.slot(i)]
		if accept == nil || accept(e.name) {
			out = append(out, e)
		}
	}
	return out
}
