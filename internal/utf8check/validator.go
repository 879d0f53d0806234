// Package utf8check validates UTF-8 incrementally, so a text message that
// arrives in pieces can be rejected at the first piece holding an invalid
// byte, even when a code point is split between pieces.
package utf8check

import "unicode/utf8"

// Validator is an incremental UTF-8 validator. The zero value is ready to
// use at the start of a text. It is not safe for concurrent use.
type Validator struct {
	need   uint8 // continuation bytes still expected for the current code point
	lo, hi byte  // allowed range for the next continuation byte
	bad    bool
}

// Reset prepares v for a new text.
func (v *Validator) Reset() { *v = Validator{} }

// Complete reports whether everything written so far is valid UTF-8 that
// does not end inside a code point.
func (v *Validator) Complete() bool { return !v.bad && v.need == 0 }

// Write feeds the next piece of the text and reports whether it is still
// a valid prefix of some UTF-8 text. Once it returns false it keeps doing
// so until Reset.
func (v *Validator) Write(p []byte) bool {
	if v.bad {
		return false
	}
	// Finish a code point left open by the previous piece.
	for v.need > 0 && len(p) > 0 {
		if !v.step(p[0]) {
			return false
		}
		p = p[1:]
	}
	if len(p) == 0 {
		return true
	}
	// The bulk goes through utf8.Valid; only a trailing incomplete code
	// point is carried over byte by byte.
	cut := tailStart(p)
	if !utf8.Valid(p[:cut]) {
		v.bad = true
		return false
	}
	for _, c := range p[cut:] {
		if !v.step(c) {
			return false
		}
	}
	return true
}

// tailStart returns the index where an incomplete code point at the end
// of p starts, or len(p) if p does not end inside one.
func tailStart(p []byte) int {
	n := len(p)
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		c := p[i]
		if c < 0x80 {
			return n
		}
		if c >= 0xC0 {
			want := 2
			if c >= 0xF0 {
				want = 4
			} else if c >= 0xE0 {
				want = 3
			}
			if n-i < want {
				return i
			}
			return n
		}
	}
	return n
}

// step advances the state machine by one byte (RFC 3629 §4 table).
func (v *Validator) step(c byte) bool {
	if v.need > 0 {
		if c < v.lo || c > v.hi {
			v.bad = true
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xBF
		return true
	}
	v.lo, v.hi = 0x80, 0xBF
	switch {
	case c < 0x80:
		return true
	case c < 0xC2:
		v.bad = true
		return false
	case c < 0xE0:
		v.need = 1
	case c == 0xE0:
		v.need, v.lo = 2, 0xA0
	case c == 0xED:
		v.need, v.hi = 2, 0x9F
	case c < 0xF0:
		v.need = 2
	case c == 0xF0:
		v.need, v.lo = 3, 0x90
	case c < 0xF4:
		v.need = 3
	case c == 0xF4:
		v.need, v.hi = 3, 0x8F
	default:
		v.bad = true
		return false
	}
	return true
}
