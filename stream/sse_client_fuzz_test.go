package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// scriptedTransport answers the first request with an event stream of
// body and every later one with 204 No Content, recording the requests'
// Last-Event-ID headers.
type scriptedTransport struct {
	body    []byte
	lastIDs [][]string // Last-Event-ID values of each request; nil when absent
}

func (s *scriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.lastIDs = append(s.lastIDs, req.Header.Values("Last-Event-ID"))
	resp := &http.Response{
		StatusCode: http.StatusNoContent, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req,
	}
	if len(s.lastIDs) == 1 {
		resp.StatusCode = http.StatusOK
		resp.Header.Set("Content-Type", "text/event-stream; charset=utf-8")
		resp.Body = io.NopCloser(bytes.NewReader(s.body))
	}
	return resp, nil
}

// wantLastIDHeader returns the Last-Event-ID values a request resuming
// after id must carry: id itself, or none when it is empty or holds a
// byte no header value may (a control character other than tab).
func wantLastIDHeader(id string) []string {
	if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return nil
	}
	return []string{id}
}

// FuzzSSEClient runs an SSEClient, in a bubble with a fake clock, against
// a server that sends one arbitrary stream and then answers 204. The
// client must yield exactly the events an EventReader reads from the
// stream; when the stream breaks a limit it must fail with that error and
// not reconnect; otherwise it must reconnect once, after the server's
// retry (floored at 100ms, capped at MaxRetry, plus at most a quarter of
// jitter), sending the last event ID it committed, then end with io.EOF.
func FuzzSSEClient(f *testing.F) {
	f.Add([]byte("id: 1\ndata: a\n\nretry: 250\n"), "")
	f.Add([]byte("data: x\n\n"), "resume-7")
	f.Add([]byte("id: a\x00b\ndata: nul id is ignored\n\nid\ndata: reset\n\n"), "old")
	f.Add([]byte("id: caf\xc3\ndata: y\n\n"), "\xff")
	f.Add([]byte("retry: 0\nid: \x7f\ndata\n\n"), "tab\there")
	f.Add([]byte("retry: 99999999999999999999999\n"), "")
	f.Add([]byte("data: "+strings.Repeat("z", 300)+"\n\n"), "")
	f.Add([]byte(strings.Repeat("data: 0123456789abcdef\n", 80)+"\n"), "")
	f.Add([]byte("id: 2\r\rid: 3\r\n"), "line\r\nbreak")
	f.Fuzz(func(t *testing.T, body []byte, initial string) {
		const maxLine, maxData = 256, 1024
		const maxRetry = 10 * time.Second
		ref := NewEventReader(bytes.NewReader(body))
		ref.SetLimits(maxLine, maxData)
		ref.lastID, ref.id = initial, []byte(initial)
		var want []string
		var wantErr error
		for {
			e, err := ref.Next()
			if err != nil {
				wantErr = err
				break
			}
			want = append(want, fmt.Sprintf("%+v", e))
		}
		wantRetry := DefaultSSERetry
		if ref.retrySet {
			wantRetry = ref.Retry()
		}

		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{body: body}
			var delays []time.Duration
			c, err := ConnectSSE(context.Background(), "http://example.test/events", SSEClientConfig{
				Client: &http.Client{Transport: tr}, LastEventID: initial, MaxRetry: maxRetry,
				MaxLineLen: maxLine, MaxEventData: maxData,
				OnRetry: func(_ error, d time.Duration) { delays = append(delays, d) },
			})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer c.Close()
			var got []string
			for {
				e, err := c.Next()
				if err != nil {
					if (wantErr == io.EOF) != (err == io.EOF) || wantErr != io.EOF && !errors.Is(err, wantErr) {
						t.Fatalf("ended with %v, reader ended with %v", err, wantErr)
					}
					break
				}
				if len(got) > len(want) {
					t.Fatalf("more events than the reader read")
				}
				got = append(got, fmt.Sprintf("%+v", e))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("events\n got %q\nwant %q", got, want)
			}
			if fmt.Sprint(tr.lastIDs[0]) != fmt.Sprint(wantLastIDHeader(initial)) {
				t.Fatalf("first request sent Last-Event-ID %q for %q", tr.lastIDs[0], initial)
			}
			if wantErr != io.EOF {
				if len(tr.lastIDs) != 1 {
					t.Fatalf("reconnected %d times after %v", len(tr.lastIDs)-1, wantErr)
				}
				return
			}
			if len(tr.lastIDs) != 2 || len(delays) != 1 {
				t.Fatalf("%d requests, %d waits; want 2 and 1", len(tr.lastIDs), len(delays))
			}
			if fmt.Sprint(tr.lastIDs[1]) != fmt.Sprint(wantLastIDHeader(ref.LastEventID())) {
				t.Fatalf("reconnected with Last-Event-ID %q, committed ID %q", tr.lastIDs[1], ref.LastEventID())
			}
			if c.Retry() != wantRetry || c.LastEventID() != ref.LastEventID() {
				t.Fatalf("client holds retry %v, ID %q; reader %v, %q", c.Retry(), c.LastEventID(), wantRetry, ref.LastEventID())
			}
			base := min(max(wantRetry, minSSERetry), maxRetry)
			if d := delays[0]; d < base || d > base+base/4 {
				t.Fatalf("waited %v for retry %v", d, wantRetry)
			}
		})
	})
}
