package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
)

func appendN(j *journal, n int) {
	for range n {
		j.Append(json.RawMessage(fmt.Sprintf(`{"n":%d}`, j.seq+1)))
	}
}

func seqs(recs []record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestJournalBoundedAndReloaded appends many records: the file never holds
// more than twice the records kept, and reopening it gives the last ones
// under the same stream, continuing the sequence.
func TestJournalBoundedAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	const keep = 5
	j, err := openJournal(path, keep, exampletest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 40 {
		appendN(j, 1)
		if n := len(fileLines(t, path)); n > 1+2*keep {
			t.Fatalf("file has %d lines, want at most %d", n, 1+2*keep)
		}
	}
	name := j.Stream()
	j.Close()

	j, err = openJournal(path, keep, exampletest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got := fmt.Sprint(seqs(j.Records())); j.Stream() != name || got != "[36 37 38 39 40]" {
		t.Fatalf("reloaded stream %q records %s, want %q [36 37 38 39 40]", j.Stream(), got, name)
	}
	if rec := j.Append(json.RawMessage(`{}`)); rec.Seq != 41 || j.EventID(rec.Seq) != name+"-41" {
		t.Fatalf("next record %d, ID %q", rec.Seq, j.EventID(rec.Seq))
	}
	if n := len(fileLines(t, path)); n != 1+keep+1 {
		t.Fatalf("file has %d lines after reload and one append, want %d", n, 1+keep+1)
	}
}

// TestJournalDamagedFile loads files damaged in various ways: bad lines are
// skipped, a bad header starts a new stream.
func TestJournalDamagedFile(t *testing.T) {
	const header = `{"stream":"0123abcd"}`
	rec := func(seq int) string { return fmt.Sprintf(`{"seq":%d,"data":{"n":%d}}`, seq, seq) }
	tests := []struct {
		name       string
		content    string
		wantStream string // "" = a new one
		wantSeqs   string
	}{
		{"empty file", "", "", "[]"},
		{"header only", header + "\n", "0123abcd", "[]"},
		{"torn last line", header + "\n" + rec(1) + "\n" + rec(2) + "\n" + `{"seq":3,"da`, "0123abcd", "[1 2]"},
		{"no final newline", header + "\n" + rec(1) + "\n" + rec(2), "0123abcd", "[1 2]"},
		{"garbage line", header + "\n" + rec(1) + "\nxx\n" + rec(3) + "\n", "0123abcd", "[1 3]"},
		{"seq going back", header + "\n" + rec(4) + "\n" + rec(2) + "\n" + rec(5) + "\n", "0123abcd", "[4 5]"},
		{"invalid data", header + "\n" + `{"seq":1,"data":nope}` + "\n" + rec(2) + "\n", "0123abcd", "[2]"},
		{"line too long", header + "\n" + rec(1) + "\n" + `{"seq":2,"data":"` + strings.Repeat("x", maxJournalLine) + `"}` + "\n" + rec(3) + "\n", "0123abcd", "[1 3]"},
		{"bad header", `{"stream":"../../x"}` + "\n" + rec(1) + "\n", "", "[]"},
		{"not JSON", "hello\n", "", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := openJournal(path, 10, exampletest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if got := fmt.Sprint(seqs(j.Records())); got != tt.wantSeqs {
				t.Fatalf("records %s, want %s", got, tt.wantSeqs)
			}
			if tt.wantStream != "" && j.Stream() != tt.wantStream || tt.wantStream == "" && (j.Stream() == "0123abcd" || !validStreamName(j.Stream())) {
				t.Fatalf("stream %q, want %q", j.Stream(), tt.wantStream)
			}
			// The file was rewritten clean.
			lines := fileLines(t, path)
			if len(lines) != 1+len(j.Records()) {
				t.Fatalf("rewritten file %q", lines)
			}
		})
	}
}

// TestJournalWriteFailure makes the file unwritable mid-run: the failure
// is logged once, samples are still kept in memory, and writing resumes
// when the file can be written again.
func TestJournalWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "j")
	var logs bytes.Buffer
	j, err := openJournal(path, 3, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendN(j, 2)

	// Removing the directory makes every rewrite fail; closing the file
	// under the journal makes the next append fail.
	j.f.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	appendN(j, 10)
	if got := fmt.Sprint(seqs(j.Records())); got != "[10 11 12]" {
		t.Fatalf("records in memory %s, want [10 11 12]", got)
	}
	if n := strings.Count(logs.String(), "journal: write failed"); n != 1 {
		t.Fatalf("logged the failure %d times, want once:\n%s", n, logs.String())
	}

	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	appendN(j, 1)
	if !strings.Contains(logs.String(), "journal: writing again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
	if lines := fileLines(t, path); len(lines) != 1+3 || !strings.HasPrefix(lines[3], `{"seq":13,`) {
		t.Fatalf("file after recovery %q", lines)
	}
}
