package stream

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLastEventID checks LastEventID on arbitrary headers and query
// strings: the result is the header (else the query parameter) cut at its
// first CR, LF or NUL and to MaxLastEventIDLen bytes, it is a prefix of
// that source, and it never splits a UTF-8 sequence the source had.
func FuzzLastEventID(f *testing.F) {
	f.Add("42", "")
	f.Add("", "last_event_id=7")
	f.Add("", "last_event_id=%00abc&last_event_id=2")
	f.Add("a\r\nSet-Cookie: x", "")
	f.Add(strings.Repeat("é", 200), "")
	f.Add(strings.Repeat("a", MaxLastEventIDLen-1)+"€", "")
	f.Add("\xff\xfe\xfd", "last_event_id=%ff")
	f.Add(strings.Repeat("\x80", 2*MaxLastEventIDLen), "")
	f.Add("", "last_event_id=%zz;a=b")
	f.Add("", "last_event_id="+strings.Repeat("%F0%9F%98%80", 100))
	f.Fuzz(func(t *testing.T, header, rawQuery string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{RawQuery: rawQuery}}
		if header != "" {
			r.Header["Last-Event-Id"] = []string{header}
		}
		got := LastEventID(r)

		src := header
		if src == "" {
			src = r.URL.Query().Get("last_event_id")
		}
		if len(got) > MaxLastEventIDLen {
			t.Fatalf("%d bytes, over MaxLastEventIDLen", len(got))
		}
		if !strings.HasPrefix(src, got) {
			t.Fatalf("%q is not a prefix of %q", got, src)
		}
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("%q holds a CR, LF or NUL", got)
		}
		cut := src
		if i := strings.IndexAny(cut, "\r\n\x00"); i >= 0 {
			cut = cut[:i]
		}
		if len(cut) <= MaxLastEventIDLen {
			if got != cut {
				t.Fatalf("got %q, want %q", got, cut)
			}
			return
		}
		// Capped: at most three bytes shorter than the cap, and only to
		// keep a multi-byte sequence whole.
		if len(got) < MaxLastEventIDLen-3 || len(got) < MaxLastEventIDLen && utf8.RuneStart(cut[MaxLastEventIDLen]) {
			t.Fatalf("capped %d bytes to %d", len(cut), len(got))
		}
		if utf8.ValidString(cut) && !utf8.ValidString(got) {
			t.Fatalf("cap split a UTF-8 sequence: %q", got)
		}
	})
}

// FuzzSSEReplayID checks the broker's "<epoch>-<seq>" IDs: every seq
// survives appendSSEID and parseSSEID, and parseSSEID accepts exactly the
// epoch, a dash and decimal digits that fit a uint64.
func FuzzSSEReplayID(f *testing.F) {
	const epoch = "0123456789"
	f.Add("0123456789-1", uint64(1))
	f.Add("0123456789-18446744073709551615", uint64(1<<64-1))
	f.Add("0123456789-18446744073709551616", uint64(0))
	f.Add("0123456789-+1", uint64(0))
	f.Add("0123456789--1", uint64(0))
	f.Add("0123456789-0001", uint64(10))
	f.Add("0123456789-1_000", uint64(10))
	f.Add("0123456789-0x10", uint64(10))
	f.Add("9876543210-5", uint64(5))
	f.Add("0123456789-", uint64(5))
	f.Add("0123456789-1 ", uint64(5))
	f.Fuzz(func(t *testing.T, id string, seq uint64) {
		got, ok := parseSSEID(string(appendSSEID(nil, epoch, seq)), epoch)
		if !ok || got != seq {
			t.Fatalf("seq %d came back as %d, %v", seq, got, ok)
		}

		got, ok = parseSSEID(id, epoch)
		digits, isOurs := strings.CutPrefix(id, epoch+"-")
		want := isOurs && digits != "" && strings.Trim(digits, "0123456789") == ""
		var n uint64
		if want {
			var err error
			n, err = strconv.ParseUint(digits, 10, 64)
			want = err == nil
		}
		if ok != want || ok && got != n {
			t.Fatalf("parseSSEID(%q) = %d, %v; want %d, %v", id, got, ok, n, want)
		}
		if ok && strings.TrimLeft(digits, "0") != strings.TrimLeft(strconv.FormatUint(got, 10), "0") {
			t.Fatalf("%q parsed as %d", id, got)
		}
	})
}
