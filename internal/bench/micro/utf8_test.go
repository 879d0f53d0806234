package micro

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws/wsutil"

	"github.com/stdrealtime/realtime/internal/utf8check"
)

// UTF-8 validation of text messages (RFC 6455 section 8.1). gorilla, coder
// and gws call utf8.Valid; gobwas validates while streaming with
// wsutil.UTF8Reader. Ours is the streaming validator package stream checks
// text with (internal/utf8check), fed the message in one piece.

var utf8Inputs = []struct {
	name string
	text []byte
}{
	{"ascii/1KiB", []byte(strings.Repeat("hello, world! ", 74)[:1024])},
	{"mixed/1KiB", []byte(strings.ToValidUTF8(strings.Repeat("héllo wörld — 你好 ", 64)[:1024], ""))},
	{"ascii/64KiB", bytes.Repeat([]byte("abcdefgh"), 8<<10)},
}

func BenchmarkUTF8(b *testing.B) {
	for _, in := range utf8Inputs {
		b.Run("ours/"+in.name, func(b *testing.B) {
			var v utf8check.Validator
			b.SetBytes(int64(len(in.text)))
			b.ReportAllocs()
			for b.Loop() {
				v.Reset()
				if !v.Write(in.text) || !v.Complete() {
					b.Fatal("invalid")
				}
			}
		})
		b.Run("utf8.Valid/"+in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.text)))
			b.ReportAllocs()
			for b.Loop() {
				if !utf8.Valid(in.text) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run("gobwas/"+in.name, func(b *testing.B) {
			src := bytes.NewReader(in.text)
			r := wsutil.NewUTF8Reader(src)
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(in.text)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(in.text)
				r.Reset(src)
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil || !r.Valid() {
					b.Fatal("invalid", err)
				}
			}
		})
	}
}

func TestUTF8InputsValid(t *testing.T) {
	for _, in := range utf8Inputs {
		if !utf8.Valid(in.text) {
			t.Fatalf("%s is not valid UTF-8", in.name)
		}
	}
}
