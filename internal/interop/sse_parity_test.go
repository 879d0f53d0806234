package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/ssetest"
	"github.com/stdrealtime/realtime/stream"
)

// These tests compare stream.EventReader with eventsource-parser, an
// event-stream parser for JavaScript that we did not write, running under
// Node. The Node side decodes bytes with TextDecoder, the decoder browsers
// use, so UTF-8 decoding is compared with the Encoding standard too.
//
// Where eventsource-parser departs from the WHATWG standard it is listed
// here and the comparison skips exactly the inputs concerned:
//
//   - It strips a leading "\u00EF\u00BB\u00BF" (the text "ï»¿", which is the
//     BOM's bytes misread as Latin-1) as if it were a byte order mark, so
//     a stream whose decoded text starts with those three characters loses
//     them. The standard strips only U+FEFF. See
//     TestEventsourceParserStripsLatin1BOM.

// parseCase is one stream for the Node parser and its result.
type parseCase struct {
	Input  []byte `json:"input"` // base64 in JSON
	Chunks []int  `json:"chunks"`
}

type parsedEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

type parseResult struct {
	Events      []parsedEvent `json:"events"`
	LastEventID string        `json:"lastEventId"`
	Retry       *float64      `json:"retry"`
}

// nodeParse runs node/sse_parse.mjs over cases. It skips the test when
// Node or the npm packages are missing, unless CI=true, when it fails.
func nodeParse(t *testing.T, cases []parseCase) []parseResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "eventsource-parser", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and eventsource-parser are required in CI (run npm ci in internal/interop): %v", err)
		}
		t.Skipf("needs node and eventsource-parser (npm ci in internal/interop): %v", err)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("node", "sse_parse.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var results []parseResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node output: %v", err)
	}
	if len(results) != len(cases) {
		t.Fatalf("node returned %d results for %d cases", len(results), len(cases))
	}
	return results
}

// cycleReader returns the bytes in reads of the given sizes, cycling.
type cycleReader struct {
	b     []byte
	sizes []int
	i     int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := len(c.b)
	if len(c.sizes) > 0 {
		n = c.sizes[c.i%len(c.sizes)]
		c.i++
	}
	n = copy(p[:min(n, len(p))], c.b)
	c.b = c.b[n:]
	return n, nil
}

// goParse parses a case with stream.EventReader.
func goParse(t *testing.T, c parseCase) parseResult {
	t.Helper()
	r := stream.NewEventReader(&cycleReader{b: c.Input, sizes: c.Chunks})
	r.SetLimits(len(c.Input)+1, 4*len(c.Input)+1)
	var res parseResult
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("EventReader(%q): %v", c.Input, err)
		}
		res.Events = append(res.Events, parsedEvent{Type: ssetest.TypeOf(e), Data: e.Data, ID: e.ID})
	}
	res.LastEventID = r.LastEventID()
	if d := r.Retry(); d != 0 || retrySet(c.Input) {
		ms := float64(d / time.Millisecond)
		res.Retry = &ms
	}
	return res
}

// retrySet reports whether the stream may hold a retry field that set a
// zero reconnection time, which EventReader.Retry cannot tell from none:
// goParse then reports it, and compare accepts null from Node only when
// the reader's value is zero.
func retrySet(b []byte) bool { return bytes.Contains(b, []byte("retry")) }

// compare reports how want (Node) and got (ours) differ, or "".
func compare(want, got parseResult) string {
	var diffs []string
	if fmt.Sprint(want.Events) != fmt.Sprint(got.Events) {
		diffs = append(diffs, fmt.Sprintf("events:\n  node %q\n  ours %q", want.Events, got.Events))
	}
	if want.LastEventID != got.LastEventID {
		diffs = append(diffs, fmt.Sprintf("last event ID: node %q, ours %q", want.LastEventID, got.LastEventID))
	}
	switch {
	case want.Retry == nil && got.Retry != nil && *got.Retry != 0:
		diffs = append(diffs, fmt.Sprintf("retry: node none, ours %v", *got.Retry))
	case want.Retry != nil && got.Retry == nil:
		diffs = append(diffs, fmt.Sprintf("retry: node %v, ours none", *want.Retry))
	case want.Retry != nil && got.Retry != nil:
		// Ours saturates at the largest time.Duration; Node keeps a float.
		const maxMillis = float64(math.MaxInt64 / int64(time.Millisecond))
		w, g := *want.Retry, *got.Retry
		if w != g && !(w > maxMillis && g >= maxMillis) {
			diffs = append(diffs, fmt.Sprintf("retry: node %v, ours %v", w, g))
		}
	}
	return strings.Join(diffs, "\n")
}

// latin1BOM reports whether the decoded stream starts with the text that
// eventsource-parser mistakes for a byte order mark.
func latin1BOM(b []byte) bool {
	return strings.HasPrefix(ssetest.DecodeUTF8(string(b)), "\u00EF\u00BB\u00BF")
}

// The hostile corpus, encoded by stream.Encode, reads back identically in
// eventsource-parser, in ours, and as the contract of Encode says.
func TestSSEParityHostileCorpus(t *testing.T) {
	events := ssetest.HostileEvents()
	var cases []parseCase
	var all []byte
	for i, e := range events {
		wire := []byte(stream.Encode(e))
		all = append(all, wire...)
		cases = append(cases, parseCase{Input: wire}, parseCase{Input: wire, Chunks: []int{1 + i%7, 1, 3}})
	}
	cases = append(cases, parseCase{Input: all}, parseCase{Input: all, Chunks: []int{1, 5, 2, 64}})
	results := nodeParse(t, cases)
	for i, c := range cases {
		got := goParse(t, c)
		if d := compare(results[i], got); d != "" {
			t.Errorf("stream %q (chunks %v):\n%s", c.Input, c.Chunks, d)
			continue
		}
		if i >= 2*len(events) {
			continue
		}
		// One event, as the contract of Encode says.
		e := events[i/2]
		want := parsedEvent{Type: ssetest.WantType(e), Data: ssetest.WantData(e), ID: ssetest.WantID("", e)}
		if len(got.Events) != 1 || got.Events[0] != want {
			t.Errorf("Encode(%q) read back as %q, want [%q]", e, got.Events, want)
		}
	}
	// The whole corpus as one stream: the IDs carry over from event to
	// event.
	whole := results[len(results)-1]
	if len(whole.Events) != len(events) {
		t.Fatalf("corpus stream: node read %d events, want %d", len(whole.Events), len(events))
	}
	id := ""
	for i, e := range events {
		id = ssetest.WantID(id, e)
		if whole.Events[i].ID != id {
			t.Errorf("corpus stream event %d: node id %q, want %q", i, whole.Events[i].ID, id)
		}
	}
}

// streamPieces are the fragments random streams are made of: field names,
// separators and line ends of every kind, byte order marks, NUL, invalid
// and multi-byte UTF-8, digits and other text.
var streamPieces = []string{
	"data", "data", "data:", "data: ", "event", "event:", "event: ", "id", "id:", "id: ", "retry", "retry:", "retry: ",
	":", ": ", " ", "  ", "\t", "\n", "\n", "\n", "\r", "\r", "\r\n", "\r\n", "\n\n", "\r\r", "\r\n\r\n",
	"\xEF\xBB\xBF", "\xEF\xBB", "\xEF", "\uFEFF", "\x00", "\xff", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f\x8e",
	"é", "€", "🎉", "message", "error", "done", "x", "hello", "0", "7", "42", "1000", "99999999999999999999",
	"-1", "+1", "1.5", "Data", "DATA", "foo", "\u2028",
}

var (
	fieldNames = []string{"data", "data", "data", "event", "id", "retry", "", "Data", "dat", "data ", "\uFEFFdata", "foo"}
	separators = []string{":", ": ", ":  ", "", " :", ":\t"}
	lineEnds   = []string{"\n", "\n", "\r", "\r\n", "\r\n", ""}
)

// randomStream makes a stream of mostly line-shaped input, fields with
// values made of random pieces and blank lines that dispatch, mixed with
// free-form fragments and random bytes.
func randomStream(rng *rand.Rand) []byte {
	var b []byte
	if rng.IntN(8) == 0 {
		b = append(b, "\xEF\xBB\xBF"...)
	}
	for range 1 + rng.IntN(24) {
		switch rng.IntN(10) {
		case 0, 1, 2: // blank line
			b = append(b, lineEnds[rng.IntN(len(lineEnds)-1)]...)
			continue
		case 3: // free-form fragments
			for range 1 + rng.IntN(6) {
				if rng.IntN(5) == 0 {
					b = append(b, byte(rng.IntN(256)))
				} else {
					b = append(b, streamPieces[rng.IntN(len(streamPieces))]...)
				}
			}
		default: // a field
			b = append(b, fieldNames[rng.IntN(len(fieldNames))]...)
			b = append(b, separators[rng.IntN(len(separators))]...)
			for range rng.IntN(4) {
				b = append(b, streamPieces[rng.IntN(len(streamPieces))]...)
			}
		}
		b = append(b, lineEnds[rng.IntN(len(lineEnds))]...)
	}
	return b
}

// Random byte streams, fed in random chunk sizes, parse identically in
// eventsource-parser and in ours. The seed is fixed so that a failure
// reproduces; the count keeps the test to a few seconds.
func TestSSEParityRandomStreams(t *testing.T) {
	const n = 20000
	rng := rand.New(rand.NewPCG(2, 6455))
	cases := make([]parseCase, n)
	for i := range cases {
		c := parseCase{Input: randomStream(rng)}
		for range 1 + rng.IntN(4) {
			c.Chunks = append(c.Chunks, 1+rng.IntN(12))
		}
		cases[i] = c
	}
	results := nodeParse(t, cases)
	skipped, events, failures := 0, 0, 0
	for i, c := range cases {
		if latin1BOM(c.Input) {
			skipped++
			continue
		}
		got := goParse(t, c)
		events += len(got.Events)
		if d := compare(results[i], got); d != "" {
			failures++
			if failures <= 10 {
				t.Errorf("stream %q (chunks %v):\n%s", c.Input, c.Chunks, d)
			}
		}
	}
	if failures > 10 {
		t.Errorf("%d streams disagree in all", failures)
	}
	if events < n/2 {
		t.Errorf("only %d events in %d streams: the generator no longer exercises dispatch", events, n)
	}
	t.Logf("%d streams, %d events compared; %d skipped for a known departure of eventsource-parser", n-skipped, events, skipped)
}

// The departure listed at the top of this file, shown so that it is known
// to be real and to stay the only one: eventsource-parser strips the
// Latin-1 reading of a BOM, the standard (and ours) keeps it.
func TestEventsourceParserStripsLatin1BOM(t *testing.T) {
	c := parseCase{Input: []byte("\u00EF\u00BB\u00BFdata: x\n\ndata: y\n\n")}
	node := nodeParse(t, []parseCase{c})[0]
	ours := goParse(t, c)
	if d := compare(node, ours); d == "" {
		t.Fatal("eventsource-parser now agrees on a leading \"ï»¿\": drop the exception in TestSSEParityRandomStreams")
	}
	want := []parsedEvent{{Type: "message", Data: "y"}}
	if fmt.Sprint(ours.Events) != fmt.Sprint(want) {
		t.Errorf("ours read %q, want %q", ours.Events, want)
	}
	if !latin1BOM(c.Input) {
		t.Error("latin1BOM does not recognise the case")
	}
}
