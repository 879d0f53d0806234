package stream

import (
	"context"
	"log/slog"
	"testing"
)

// bkLogHandler sends every record it handles, as its message and
// attributes, to a channel.
type bkLogHandler struct{ recs chan map[string]string }

func (h bkLogHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h bkLogHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h bkLogHandler) WithGroup(string) slog.Handler            { return h }

func (h bkLogHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.recs <- m
	return nil
}

// TestSSEBrokerLog checks the lines a broker logs for a subscriber's life:
// who joined with what, and who left why and with how many events.
func TestSSEBrokerLog(t *testing.T) {
	logs := bkLogHandler{recs: make(chan map[string]string, 64)}
	b := NewSSEBroker(SSEBrokerConfig{Topic: "log", Logger: slog.New(logs), MaxSubscribers: 1})
	url, c := bkServe(t, b)
	next := func(want string) map[string]string {
		t.Helper()
		rec := <-logs.recs
		if rec["msg"] != want {
			t.Fatalf("logged %v, want %q", rec, want)
		}
		return rec
	}
	for _, tc := range []struct {
		name, query string
		hdr         []string
		id          string
	}{
		{"query", "?subscriber_id=tab-1&buffer=7", nil, "tab-1"},
		{"header", "?buffer=7", []string{"X-Subscriber-ID", "tab.2@x"}, "tab.2@x"},
		{"none", "?buffer=7", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bkSubscribe(t, c, url+tc.query, tc.hdr...)
			if rec := next("sse subscriber joined"); rec["subscriber"] != tc.id || rec["buffer"] != "7" || rec["block"] != "false" {
				t.Errorf("joined: %v", rec)
			}
			// One past MaxSubscribers is turned away, and says who it was.
			resp, err := c.Get(url + "?subscriber_id=extra")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if rec := next("sse subscriber turned away"); rec["subscriber"] != "extra" || rec["closed"] != "false" {
				t.Errorf("turned away: %v", rec)
			}
			for i := range 3 {
				if err := b.Publish(bkMsg(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.wantData("0", "1", "2")
			s.close()
			if rec := next("sse subscriber left"); rec["subscriber"] != tc.id || rec["reason"] != "client left" || rec["delivered"] != "3" || rec["dropped"] != "0" {
				t.Errorf("left: %v", rec)
			}
		})
	}
}
