package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/cluster/internal/redistest"
	"github.com/stdrealtime/realtime/examples/cluster/redisrelay"
	"github.com/stdrealtime/realtime/stream"
)

func TestMain(m *testing.M) {
	redistest.Quiet()
	os.Exit(m.Run())
}

// instance is one app behind its own server and Redis client.
type instance struct {
	name  string
	app   *app
	srv   *httptest.Server
	relay *redisrelay.Relay
}

func startInstance(t testing.TB, addr, name string, mode redisrelay.Mode) *instance {
	t.Helper()
	return startUserInstance(t, addr, name, mode, "")
}

// startUserInstance is startInstance for the ACL user user (password
// "pw"); "" is the default user.
func startUserInstance(t testing.TB, addr, name string, mode redisrelay.Mode, user string) *instance {
	t.Helper()
	rc := redistest.NewClient(addr)
	if user != "" {
		rc = redistest.NewUserClient(addr, user, "pw")
	}
	rel := redisrelay.New(rc, redisrelay.Config{Broadcast: mode, Block: 200 * time.Millisecond})
	a := newApp(name, rel, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() {
		a.close()
		srv.Close()
		rc.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for rel.Stats().Loops < 2 { // the hub's subscription and the broker's follower
		if time.Now().After(deadline) {
			t.Fatalf("%s: relay loops not running: %+v", name, rel.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &instance{name: name, app: a, srv: srv, relay: rel}
}

// checkGoroutines, registered as the first cleanup, fails the test if the
// goroutine count does not fall back within a deadline.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(15 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// line is a chat line as a client received it.
type line struct {
	from, text, id string
}

// wsClient connects to /ws and forwards the lines it receives.
func wsClient(t testing.TB, in *instance) <-chan line {
	t.Helper()
	url := "ws" + strings.TrimPrefix(in.srv.URL, "http") + "/ws"
	c, _, err := stream.Dial(context.Background(), url, stream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	out := make(chan line, 4096)
	go func() {
		defer close(out)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			out <- parseLine(t, string(p), "")
		}
	}()
	// Registered once the hub counts it.
	deadline := time.Now().Add(10 * time.Second)
	for in.app.hub.Count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("WebSocket client not registered")
		}
		time.Sleep(time.Millisecond)
	}
	return out
}

// sseClient connects to /events, resuming after lastID if not empty. It
// returns the lines received and a function that disconnects.
func sseClient(t testing.TB, in *instance, lastID string) (<-chan line, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := stream.ConnectSSE(ctx, in.srv.URL+"/events", stream.SSEClientConfig{LastEventID: lastID})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out := make(chan line, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for {
			e, err := c.Next()
			if err != nil {
				return
			}
			if e.Type == stream.Custom { // a gap event
				out <- line{from: "!" + e.Name, text: e.Data, id: e.ID}
				continue
			}
			out <- parseLine(t, e.Data, e.ID)
		}
	}()
	stop := func() {
		cancel()
		c.Close()
		<-done
	}
	t.Cleanup(stop)
	return out, stop
}

func parseLine(t testing.TB, data, id string) line {
	var l chatLine
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		t.Errorf("line %q: %v", data, err)
	}
	return line{from: l.From, text: l.Text, id: id}
}

func recv(t testing.TB, ch <-chan line, what string) line {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("%s: stream ended", what)
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing within 20s", what)
	}
	return line{}
}

// readUntilEnd reads lines until the line "end" from every instance in
// ends has arrived, and returns the others.
func readUntilEnd(t testing.TB, ch <-chan line, what string, ends ...string) []line {
	t.Helper()
	var got []line
	seen := 0
	for seen < len(ends) {
		l := recv(t, ch, what)
		if l.text == "end" {
			seen++
			continue
		}
		got = append(got, l)
	}
	return got
}

// checkPerOrigin checks that got holds, for each instance, exactly the
// texts "<name>-0".."<name>-(n-1)" in that order.
func checkPerOrigin(t testing.TB, what string, got []line, n int, names ...string) {
	t.Helper()
	checkPerOriginFrom(t, what, got, nil, n, names...)
}

// checkPerOriginFrom is checkPerOrigin for "<name>-<from[name]>" to
// "<name>-(n-1)".
func checkPerOriginFrom(t testing.TB, what string, got []line, from map[string]int, n int, names ...string) {
	t.Helper()
	next := map[string]int{}
	for _, name := range names {
		next[name] = from[name]
	}
	for _, l := range got {
		want := fmt.Sprintf("%s-%d", l.from, next[l.from])
		if l.text != want {
			t.Fatalf("%s: got %q from %s, want %q (duplicate, loss or reorder)", what, l.text, l.from, want)
		}
		next[l.from]++
	}
	for _, name := range names {
		if next[name] != n {
			t.Fatalf("%s: %d lines from %s, want %d", what, next[name], name, n)
		}
	}
}

// logLines returns the lines of got that carry a stream ID, not a
// provisional one.
func logLines(got []line) []line {
	var out []line
	for _, l := range got {
		if !strings.Contains(l.id, "~") {
			out = append(out, l)
		}
	}
	return out
}

// after returns the lines of got numbered from n on ("A-20", ...).
func after(got []line, n int) []line {
	var out []line
	for _, l := range got {
		_, num, _ := strings.Cut(l.text, "-")
		if k, err := strconv.Atoi(num); err == nil && k >= n {
			out = append(out, l)
		}
	}
	return out
}

// checkStreamIDs checks that SSE event IDs are Redis stream IDs in
// increasing order.
func checkStreamIDs(t testing.TB, what string, got []line) {
	t.Helper()
	var pms, pseq uint64
	for i, l := range got {
		a, b, ok := strings.Cut(l.id, "-")
		ms, err1 := strconv.ParseUint(a, 10, 64)
		seq, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("%s: event ID %q is not a stream ID", what, l.id)
		}
		if i > 0 && (ms < pms || ms == pms && seq <= pseq) {
			t.Fatalf("%s: ID %s after %d-%d", what, l.id, pms, pseq)
		}
		pms, pseq = ms, seq
	}
}

func postLine(t testing.TB, in *instance, text string) {
	t.Helper()
	resp, err := http.Post(in.srv.URL+"/publish", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish %q: %s", text, resp.Status)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Two instances share a real Redis: a line sent to either reaches every
// WebSocket and EventSource client of both, once, in order; SSE IDs are
// the same everywhere, and a client that moves to the other instance
// resumes with no gap.
func TestTwoInstances(t *testing.T) {
	for _, mode := range []redisrelay.Mode{redisrelay.PubSub, redisrelay.Streams} {
		t.Run("hub over "+mode.String(), func(t *testing.T) {
			checkGoroutines(t)
			srv := redistest.Start(t, false)
			a := startInstance(t, srv.Addr(), "A", mode)
			b := startInstance(t, srv.Addr(), "B", mode)
			wsA, wsB := wsClient(t, a), wsClient(t, b)
			sseA, _ := sseClient(t, a, "")
			sseB, stopB := sseClient(t, b, "")

			const n = 20
			for i := range n {
				postLine(t, a, fmt.Sprintf("A-%d", i))
				if err := b.app.publish(fmt.Sprintf("B-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			postLine(t, a, "end")
			postLine(t, b, "end")

			for what, ch := range map[string]<-chan line{"ws on A": wsA, "ws on B": wsB} {
				checkPerOrigin(t, what, readUntilEnd(t, ch, what, "A", "B"), n, "A", "B")
			}
			gotA := readUntilEnd(t, sseA, "sse on A", "A", "B")
			gotB := readUntilEnd(t, sseB, "sse on B", "A", "B")
			checkPerOrigin(t, "sse on A", gotA, n, "A", "B")
			checkStreamIDs(t, "sse on A", gotA)
			if fmt.Sprint(gotA) != fmt.Sprint(gotB) {
				t.Fatalf("SSE clients of A and B saw different streams:\n%v\n%v", gotA, gotB)
			}

			// The client on B moves to A holding the ID of the n-th line,
			// as if it had left then; more lines are sent meanwhile.
			lastID := gotB[n-1].id
			stopB()
			for i := n; i < n+5; i++ {
				a.app.publish(fmt.Sprintf("A-%d", i))
			}
			a.app.publish("end")
			b.app.publish("end")
			readUntilEnd(t, sseA, "sse on A", "A", "B") // A has delivered them all
			moved, _ := sseClient(t, a, lastID)
			rest := readUntilEnd(t, moved, "moved client", "A", "A", "B", "B")
			var texts, wantTexts []string
			for _, l := range rest {
				texts = append(texts, l.text)
			}
			for _, l := range gotA[n:] {
				wantTexts = append(wantTexts, l.text)
			}
			for i := n; i < n+5; i++ {
				wantTexts = append(wantTexts, fmt.Sprintf("A-%d", i))
			}
			if fmt.Sprint(texts) != fmt.Sprint(wantTexts) {
				t.Fatalf("resumed on A with %v, want %v", texts, wantTexts)
			}
			for _, in := range []*instance{a, b} {
				st := in.app.stats()
				if st.Hub.Relay.Lost != 0 || st.Hub.Relay.Duplicates != 0 || st.SSE.Relay.Duplicates != 0 || st.SSE.ResumeGaps != 0 {
					t.Fatalf("%s: stats %+v", in.name, st)
				}
			}
		})
	}
}

// Redis is killed mid-stream and restarted on the same port. Each
// instance keeps delivering its own WebSocket and SSE lines meanwhile (the
// SSE ones with provisional IDs); the SSE streams lose nothing and
// duplicate nothing (what was appended before the crash is in the AOF,
// what was published during the outage waits and is appended after, and
// reaches the other instance then); over Pub/Sub, every hub message that
// did not arrive is counted as lost.
func TestRedisRestart(t *testing.T) {
	for _, mode := range []redisrelay.Mode{redisrelay.PubSub, redisrelay.Streams} {
		t.Run("hub over "+mode.String(), func(t *testing.T) {
			checkGoroutines(t)
			srv := redistest.Start(t, true)
			a := startInstance(t, srv.Addr(), "A", mode)
			b := startInstance(t, srv.Addr(), "B", mode)
			wsA, wsB := wsClient(t, a), wsClient(t, b)
			sseA, _ := sseClient(t, a, "")
			sseB, _ := sseClient(t, b, "")

			var gotA, gotB, hubB []line // read so far
			hubSentA := 0
			publish := func(in *instance, text string) {
				if err := in.app.publish(text); err != nil {
					t.Fatalf("publish %q on %s: %v", text, in.name, err)
				}
				if in == a {
					hubSentA++
				}
			}
			for i := range 10 {
				publish(a, fmt.Sprintf("A-%d", i))
				publish(b, fmt.Sprintf("B-%d", i))
			}
			for range 20 { // appended to the stream before the crash
				gotA = append(gotA, recv(t, sseA, "sse on A"))
				gotB = append(gotB, recv(t, sseB, "sse on B"))
			}
			if fmt.Sprint(gotA) != fmt.Sprint(gotB) {
				t.Fatalf("before the crash, SSE clients of A and B saw different streams:\n%v\n%v", gotA, gotB)
			}

			srv.Kill()
			for i := 10; i < 20; i++ {
				publish(a, fmt.Sprintf("A-%d", i))
				publish(b, fmt.Sprintf("B-%d", i))
			}
			// Local WebSocket delivery does not wait for Redis.
			for seen := 0; seen < 20; {
				if l := recv(t, wsA, "ws on A during the outage"); l.from == "A" {
					seen++
				}
			}
			// Nor does local SSE delivery: each instance sends its own
			// lines at once, with provisional IDs.
			var provisional string
			for _, c := range []struct {
				name string
				ch   <-chan line
				got  *[]line
			}{{"A", sseA, &gotA}, {"B", sseB, &gotB}} {
				for i := 10; i < 20; i++ {
					l := recv(t, c.ch, "sse on "+c.name+" during the outage")
					if l.from != c.name || l.text != fmt.Sprintf("%s-%d", c.name, i) || !strings.Contains(l.id, "~") {
						t.Fatalf("sse on %s during the outage: %+v, want %s-%d with a provisional ID", c.name, l, c.name, i)
					}
					*c.got = append(*c.got, l)
				}
			}
			provisional = gotA[len(gotA)-5].id

			srv.Restart()
			// Probe until the hubs hear each other again (over Pub/Sub,
			// what is published before B resubscribes is lost).
			for probing := true; probing; {
				a.app.hub.Broadcast(mustJSON(chatLine{From: "A", Text: "probe"}))
				hubSentA++
				select {
				case l := <-wsB:
					hubB = append(hubB, l)
					probing = l.from != "A" || l.text != "probe"
				case <-time.After(100 * time.Millisecond):
				}
			}
			// Wait until both brokers have appended their outage lines, so
			// that the next ones go through Redis rather than provisionally.
			for _, in := range []*instance{a, b} {
				deadline := time.Now().Add(20 * time.Second)
				for in.app.stats().SSE.Relay.Sent < 20 {
					if time.Now().After(deadline) {
						t.Fatalf("SSE broker of %s did not reach Redis again: %+v", in.name, in.app.stats().SSE.Relay)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			for i := 20; i < 30; i++ {
				publish(a, fmt.Sprintf("A-%d", i))
				publish(b, fmt.Sprintf("B-%d", i))
			}
			publish(a, "end")
			publish(b, "end")

			gotA = append(gotA, readUntilEnd(t, sseA, "sse on A", "A", "B")...)
			gotB = append(gotB, readUntilEnd(t, sseB, "sse on B", "A", "B")...)
			for _, c := range []struct {
				name string
				got  []line
			}{{"A", gotA}, {"B", gotB}} {
				checkPerOrigin(t, "sse on "+c.name, c.got, 30, "A", "B")
				checkStreamIDs(t, "sse on "+c.name, logLines(c.got))
			}
			// After the outage both instances send the log's order again.
			if a, b := after(gotA, 20), after(gotB, 20); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("after the outage, SSE clients of A and B saw different streams:\n%v\n%v", a, b)
			}
			// A client of A that held a provisional ID resumes on B from
			// the log position it names, without A's outage lines it has:
			// nothing lost, nothing twice.
			resumed, _ := sseClient(t, b, provisional)
			got := readUntilEnd(t, resumed, "resumed on B", "A", "B")
			checkPerOriginFrom(t, "resumed on B", got, map[string]int{"A": 16, "B": 10}, 30, "A", "B")

			hubB = append(hubB, readUntilEnd(t, wsB, "ws on B", "A", "B")...)
			fromA, last := 1, -1 // the end line, read above
			for _, l := range hubB {
				if l.from != "A" {
					continue
				}
				fromA++
				if l.text == "probe" {
					continue
				}
				k, _ := strconv.Atoi(strings.TrimPrefix(l.text, "A-"))
				if k <= last {
					t.Fatalf("ws on B: %s after A-%d", l.text, last)
				}
				last = k
			}
			st := b.app.stats().Hub.Relay
			if uint64(fromA)+st.Lost != uint64(hubSentA) {
				t.Fatalf("ws on B received %d of A's %d hub messages, but B counted %d lost", fromA, hubSentA, st.Lost)
			}
			if mode == redisrelay.Streams && st.Lost != 0 {
				t.Fatalf("hub over Streams lost %d messages", st.Lost)
			}
			if ra := a.relay.Stats(); ra.Errors == 0 || ra.Recoveries == 0 {
				t.Fatalf("relay stats of A %+v: the outage was not seen", ra)
			}
			t.Logf("hub over %s: B received %d of A's %d messages, counted %d lost; SSE lost none of 60 and delivered the outage's locally at once",
				mode, fromA, hubSentA, st.Lost)
		})
	}
}

// Over Pub/Sub, what a hub misses while its subscription is down is lost
// (at-most-once) and counted: every message of A either reaches B's
// client or is in B's Lost counter.
func TestPubSubLossCounted(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, false)
	admin := redistest.NewClient(srv.Addr())
	defer admin.Close()
	ctx := context.Background()
	acl := func(rules ...any) {
		t.Helper()
		if err := admin.Do(ctx, append([]any{"ACL", "SETUSER", "b"}, rules...)...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	acl("on", ">pw", "~*", "&*", "+@all")
	a := startInstance(t, srv.Addr(), "A", redisrelay.PubSub)
	b := startUserInstance(t, srv.Addr(), "B", redisrelay.PubSub, "b")
	wsB := wsClient(t, b)
	sent := 0
	broadcast := func(text string) {
		a.app.hub.Broadcast(mustJSON(chatLine{From: "A", Text: text}))
		sent++
	}
	broadcast("first")
	if l := recv(t, wsB, "ws on B"); l.text != "first" {
		t.Fatalf("got %q", l.text)
	}

	// Cut B off Redis and keep it off while A sends.
	acl("off")
	if err := admin.ClientKillByFilter(ctx, "USER", "b").Err(); err != nil {
		t.Fatal(err)
	}
	const cut = 50
	for i := range cut {
		broadcast(fmt.Sprintf("A-%d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.app.stats().Hub.Relay.Sent != uint64(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("A did not publish: %+v", a.app.stats().Hub.Relay)
		}
		time.Sleep(time.Millisecond)
	}
	acl("on")

	received := 1
	for probing := true; probing; {
		broadcast("probe")
		select {
		case <-wsB:
			received++
			probing = false
		case <-time.After(100 * time.Millisecond):
		}
	}
	broadcast("end")
	received += len(readUntilEnd(t, wsB, "ws on B", "A")) + 1
	lost := b.app.stats().Hub.Relay.Lost
	if uint64(received)+lost != uint64(sent) || lost < cut {
		t.Fatalf("B received %d of %d messages and counted %d lost; want at least %d lost", received, sent, lost, cut)
	}
	t.Logf("B received %d of %d messages, counted %d lost", received, sent, lost)
}

// On a fresh stream a subscriber's starting ID is "0-0"; a client that
// leaves holding it and comes back to the other instance gets everything.
func TestResumeFromFreshStream(t *testing.T) {
	checkGoroutines(t)
	srv := redistest.Start(t, false)
	a := startInstance(t, srv.Addr(), "A", redisrelay.PubSub)
	b := startInstance(t, srv.Addr(), "B", redisrelay.PubSub)
	resp, err := http.Get(a.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 64)
	n, _ := resp.Body.Read(first)
	resp.Body.Close()
	if got := string(first[:n]); got != "id: 0-0\n\n" {
		t.Fatalf("a new subscriber got %q, want the starting ID 0-0", got)
	}
	for i := range 3 {
		a.app.publish(fmt.Sprintf("A-%d", i))
	}
	a.app.publish("end")
	sseA, _ := sseClient(t, a, "0-0")
	readUntilEnd(t, sseA, "sse on A", "A")
	sseB, _ := sseClient(t, b, "0-0")
	checkPerOrigin(t, "resumed on B", readUntilEnd(t, sseB, "sse on B", "A"), 3, "A")
}
