package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// maxJournalLine bounds one line of the journal file; longer lines are
// skipped as damaged.
const maxJournalLine = 64 << 10

// record is one published sample: its sequence number and its JSON data.
type record struct {
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
}

// journalHeader is the first line of a journal file. Stream names the
// sequence of IDs the file continues: a client holding an ID of another
// stream is told it has a gap instead of being matched by number.
type journalHeader struct {
	Stream string `json:"stream"`
}

// journal keeps the last samples so that they outlive a restart, in memory
// and, when it has a path, in a file of JSON lines: a header, then one
// record per line, oldest first. Records are appended; when the file holds
// twice as many as are kept it is rewritten with the kept ones, so it never
// grows past that. A failed write is logged and retried by a rewrite on the
// next append; it never stops the program.
//
// A journal is used by one goroutine at a time.
type journal struct {
	path   string
	keep   int
	stream string
	log    *slog.Logger

	recent  []record // the last keep records, oldest first
	seq     uint64   // the last sequence number handed out
	f       *os.File // open for appending; nil when memory-only or broken
	lines   int      // records in the file
	failing bool     // the last write failed
}

// openJournal loads the journal at path, keeping its last keep records,
// and readies it for appending. An empty path keeps records in memory only,
// under a new stream name. A file that is missing or damaged starts a new
// stream; one that cannot be read or written is an error.
func openJournal(path string, keep int, log *slog.Logger) (*journal, error) {
	if keep < 1 {
		return nil, fmt.Errorf("journal: keep %d, want at least 1", keep)
	}
	j := &journal{path: path, keep: keep, log: log}
	if path != "" {
		if err := j.load(); err != nil {
			return nil, err
		}
	}
	if j.stream == "" {
		j.stream = newStreamName()
		j.recent, j.seq = nil, 0
	}
	if path != "" {
		if err := j.rewrite(); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// newStreamName returns a random 8-character hex name.
func newStreamName() string {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read documents it)
	return hex.EncodeToString(b[:])
}

// load reads the file at j.path. Damaged lines (a write cut short by a
// crash, say) are skipped with a warning; so is a record whose sequence
// number does not follow the one before.
func (j *journal) load() error {
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	defer f.Close()

	r := bufio.NewReader(f)
	var skipped int
	for n := 1; ; n++ {
		line, tooLong, err := readLine(r, maxJournalLine)
		if err != nil {
			if errors.Is(err, errEndOfFile) {
				break
			}
			return fmt.Errorf("journal: read %s: %w", j.path, err)
		}
		if n == 1 {
			var h journalHeader
			if tooLong || json.Unmarshal(line, &h) != nil || !validStreamName(h.Stream) {
				j.log.Warn("journal: header damaged, starting a new stream", "path", j.path)
				return nil
			}
			j.stream = h.Stream
			continue
		}
		var rec record
		if tooLong || json.Unmarshal(line, &rec) != nil || rec.Seq <= j.seq || !json.Valid(rec.Data) {
			skipped++
			continue
		}
		j.seq = rec.Seq
		j.remember(rec)
	}
	if skipped > 0 {
		j.log.Warn("journal: skipped damaged lines", "path", j.path, "lines", skipped)
	}
	return nil
}

var errEndOfFile = errors.New("end of file")

// readLine returns the next line of r without its newline, reading at most
// limit bytes of it; tooLong reports a line cut at the limit, the rest of
// which is discarded. A last line without a newline is returned as is.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte("\n")), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0 && !tooLong:
			return nil, false, errEndOfFile
		case err == io.EOF:
			return line, tooLong, nil
		default:
			return nil, false, err
		}
	}
}

// validStreamName reports whether s could have come from newStreamName.
func validStreamName(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// remember adds rec to the records kept in memory.
func (j *journal) remember(rec record) {
	j.recent = append(j.recent, rec)
	if len(j.recent) > j.keep {
		// Slide the window; append reallocates now and then, so the
		// memory held stays within a small multiple of keep.
		j.recent = j.recent[len(j.recent)-j.keep:]
	}
}

// Records returns the kept records, oldest first. The slice is the
// journal's own; the caller must not change it.
func (j *journal) Records() []record { return j.recent }

// Stream returns the name of the ID sequence the journal continues.
func (j *journal) Stream() string { return j.stream }

// EventID returns the SSE event ID of the record with sequence number seq.
func (j *journal) EventID(seq uint64) string {
	return j.stream + "-" + strconv.FormatUint(seq, 10)
}

// Append gives data the next sequence number and keeps it. A failure to
// write the file is logged, not returned: the sample is still kept in
// memory and published.
func (j *journal) Append(data json.RawMessage) record {
	j.seq++
	rec := record{Seq: j.seq, Data: data}
	j.remember(rec)
	if j.path == "" {
		return rec
	}
	var err error
	switch {
	case j.f == nil || j.lines >= 2*j.keep:
		err = j.rewrite() // writes rec too
	default:
		err = j.appendLine(rec)
	}
	switch {
	case err != nil && !j.failing:
		j.log.Error("journal: write failed; samples are kept in memory only until it works again", "path", j.path, "err", err)
		j.failing = true
	case err == nil && j.failing:
		j.log.Info("journal: writing again", "path", j.path)
		j.failing = false
	}
	return rec
}

// appendLine writes rec at the end of the file in one write.
func (j *journal) appendLine(rec record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		j.f.Close()
		j.f = nil
		return fmt.Errorf("journal: append: %w", err)
	}
	j.lines++
	return nil
}

// rewrite replaces the file with the header and the kept records: it
// writes a temporary file beside it and renames it over the old one, so a
// crash leaves one or the other whole. The new file stays open for
// appending.
func (j *journal) rewrite() error {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode ends each value with a newline
	if err := enc.Encode(journalHeader{Stream: j.stream}); err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	for _, rec := range j.recent {
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("journal: encode: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.path), filepath.Base(j.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("journal: reopen: %w", err)
	}
	j.f, j.lines = f, len(j.recent)
	return nil
}

// Close closes the file. The journal must not be used afterwards.
func (j *journal) Close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}
