package utf8check

import (
	"testing"
	"unicode/utf8"
)

var samples = []string{
	"", "hello", "κόσμε", "Hello-µ@ßöäüàá-UTF-8!!", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
	"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",
	// invalid
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
	"\xf4\x90\x80\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x88\x80\x80\x80",
	"\xed\xa0\x80", "\xed\xbf\xbf", "\x80", "\xbf", "\xc2", "\xe1\x80", "\xf0\x90\x80",
	"\xfe", "\xff", "a\xc2b", "\xdf\xbf\x80",
}

// Every way of splitting every sample into up to three pieces must give
// the same verdict as utf8.ValidString on the whole.
func TestWriteAgreesWithValidString(t *testing.T) {
	for _, s := range samples {
		want := utf8.ValidString(s)
		b := []byte(s)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				var v Validator
				ok := v.Write(b[:i]) && v.Write(b[i:j]) && v.Write(b[j:])
				got := ok && v.Complete()
				if got != want {
					t.Fatalf("%q split at %d,%d: got %v, want %v", s, i, j, got, want)
				}
			}
		}
	}
}

// A piece holding an invalid byte is rejected at once, even though the
// code point it breaks started in an earlier piece.
func TestFailsFastAcrossPieces(t *testing.T) {
	var v Validator
	if !v.Write([]byte("ok \xf0\x90")) {
		t.Fatal("valid prefix rejected")
	}
	if v.Complete() {
		t.Fatal("Complete inside a code point")
	}
	if v.Write([]byte{0x41}) {
		t.Fatal("invalid continuation accepted")
	}
	if v.Write([]byte("fine")) {
		t.Fatal("validator recovered without Reset")
	}
	v.Reset()
	if !v.Write([]byte("fine")) || !v.Complete() {
		t.Fatal("Reset did not clear the state")
	}
}

func FuzzValidator(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		n := int(step%7) + 1
		var v Validator
		ok := true
		for i := 0; i < len(b) && ok; i += n {
			ok = v.Write(b[i:min(i+n, len(b))])
		}
		if got, want := ok && v.Complete(), utf8.Valid(b); got != want {
			t.Fatalf("% x in %d-byte pieces: got %v, want %v", b, n, got, want)
		}
	})
}
