package stream

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeAny decodes JSON into generic values, for comparing two
// encodings of the same document.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers compare as written, whatever their range
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("payload %.200q is not JSON: %v", b, err)
	}
	return v
}

// FuzzWSMessage checks the JSON envelope both ways. ParseWSMessage must
// fail on anything that is not JSON, and with an error naming the
// operation; what it accepts must encode and parse back to the same
// message, and encoding is a fixed point after one round. A message built
// from arbitrary fields must encode (or fail only on a payload that is not
// JSON) and parse back with its strings as JSON carries them: each byte
// of invalid UTF-8 replaced by U+FFFD. A payload nested to encoding/json's
// depth limit fails to encode, since the envelope would be one level too
// deep to parse.
func FuzzWSMessage(f *testing.F) {
	f.Add([]byte(`{"type":"chat","payload":{"text":"hi"},"sender_id":"u1","ts":1700000000000}`), "chat", "u1", int64(1), []byte(`{"a":[1,2,3]}`))
	f.Add([]byte(`{"type":"a","payload":null,"ts":-9223372036854775808}`), "", "", int64(-1<<63), []byte(`null`))
	f.Add([]byte(`{"type":"\ud800","payload":"<&>","ts":1e3}`), "\xff\xfe", "\xc3", int64(1<<63-1), []byte(`"\ud800<script>"`))
	f.Add([]byte(`{"type":1}`), "x", "y", int64(7), []byte(`{"unterminated":`))
	f.Add([]byte(`{"ts":9223372036854775808}`), "t", "s", int64(0), []byte("\"\xff\""))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`), "", "", int64(0), []byte(` {"spaced" : [ 1 , 2 ] } `))
	f.Add([]byte("{\"type\":\"a\",\"type\":\"b\",\"TYPE\":\"c\",\"payload\":{\"k\":1e400}}"), "a", "b", int64(3), []byte(`1e400`))
	f.Fuzz(func(t *testing.T, raw []byte, typ, sender string, ts int64, payload []byte) {
		// Parse side.
		m, err := ParseWSMessage(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "stream: parse message: ") {
				t.Fatalf("error %.200q does not name the operation", err)
			}
		} else {
			if !json.Valid(raw) {
				t.Fatalf("parsed %.200q, which is not JSON, as %+v", raw, m)
			}
			if m.Ts == 0 {
				m.Ts = 1 // encode would set it to the current time
			}
			b1, err := m.encode()
			if err != nil {
				t.Fatalf("encoding parsed message %+v: %v", m, err)
			}
			m2, err := ParseWSMessage(b1)
			if err != nil {
				t.Fatalf("parsing %.200q again: %v", b1, err)
			}
			if m2.Type != m.Type || m2.SenderID != m.SenderID || m2.Ts != m.Ts {
				t.Fatalf("round trip changed %+v into %+v", m, m2)
			}
			if (len(m.Payload) == 0) != (len(m2.Payload) == 0) {
				t.Fatalf("payload %.200q came back as %.200q", m.Payload, m2.Payload)
			}
			if len(m.Payload) > 0 && !reflect.DeepEqual(decodeAny(t, m.Payload), decodeAny(t, m2.Payload)) {
				t.Fatalf("payload %.200q came back as %.200q", m.Payload, m2.Payload)
			}
			b2, err := m2.encode()
			if err != nil || !bytes.Equal(b1, b2) {
				t.Fatalf("encoding is not a fixed point:\n%s\n%s (%v)", b1, b2, err)
			}
		}

		// Encode side.
		in := WSMessage{Type: typ, SenderID: sender, Ts: ts, Payload: payload}
		if ts == 0 {
			in.Ts = 1
		}
		b, err := in.encode()
		if len(payload) > 0 && !json.Valid(payload) {
			if err == nil || !strings.HasPrefix(err.Error(), "stream: encode message: ") {
				t.Fatalf("payload %.200q is not JSON, encode gave %.200q, %v", payload, b, err)
			}
			return
		}
		if err != nil && strings.HasSuffix(err.Error(), "payload nested too deep") {
			// Only a payload that one more level would make unparsable.
			if json.Valid(append(append([]byte("["), payload...), ']')) {
				t.Fatalf("payload %.200q refused as nested too deep", payload)
			}
			return
		}
		if err != nil {
			t.Fatalf("encode %+v: %v", in, err)
		}
		out, err := ParseWSMessage(b)
		if err != nil {
			t.Fatalf("parsing encoded %.200q: %v", b, err)
		}
		if out.Type != string([]rune(typ)) || out.SenderID != string([]rune(sender)) || out.Ts != in.Ts {
			t.Fatalf("%+v came back as %+v", in, out)
		}
		if len(payload) > 0 && !reflect.DeepEqual(decodeAny(t, payload), decodeAny(t, out.Payload)) {
			t.Fatalf("payload %.200q came back as %.200q", payload, out.Payload)
		}
	})
}
