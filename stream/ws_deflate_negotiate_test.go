package stream

import (
	"net/http"
	"reflect"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []extElement
	}{
		{"empty", nil, nil},
		{"bare", []string{"permessage-deflate"}, []extElement{{name: "permessage-deflate"}}},
		{"params and spaces", []string{" permessage-deflate ;client_max_window_bits ; server_max_window_bits = 10 "},
			[]extElement{{name: "permessage-deflate", params: []extParam{{name: "client_max_window_bits"}, {name: "server_max_window_bits", value: "10", hasValue: true}}}}},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="1\0"`},
			[]extElement{{name: "permessage-deflate", params: []extParam{{name: "server_max_window_bits", value: "10", hasValue: true}}}}},
		{"list over lines and empty elements", []string{"a, ,b;x", ",c"},
			[]extElement{{name: "a"}, {name: "b", params: []extParam{{name: "x"}}}, {name: "c"}}},
		{"malformed element keeps the next", []string{"a;;x, b"}, []extElement{{name: "a", err: errExtSyntax}, {name: "b"}}},
		{"quoted value not a token", []string{`a; x="1 0", b`}, []extElement{{name: "a", err: errExtQuoted}, {name: "b"}}},
		{"comma inside quotes", []string{`a; x="1,0", b`}, []extElement{{name: "a", err: errExtQuoted}, {name: "b"}}},
		{"unterminated quote", []string{`a; x="10, b`}, []extElement{{name: "a", err: errExtUnclosed}}},
		{"missing value", []string{"a; x=, b"}, []extElement{{name: "a", err: errExtSyntax}, {name: "b"}}},
		{"garbage after name", []string{"a b"}, []extElement{{name: "a", err: errExtSyntax}}},
		{"no name", []string{";x"}, []extElement{{err: errExtSyntax}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseExtensions(tc.lines); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestAcceptDeflate covers the server side of RFC 7692 §7.1: each
// parameter, invalid values, duplicates, and falling back to the next
// offer or to no compression.
func TestAcceptDeflate(t *testing.T) {
	const (
		ctx   = CompressionContextTakeover
		noCtx = CompressionNoContextTakeover
		pmd   = "permessage-deflate"
		both  = pmd + "; server_no_context_takeover; client_no_context_takeover"
	)
	tests := []struct {
		name   string
		mode   CompressionMode
		offers []string
		resp   string // "" means declined
		agreed deflateAgreement
	}{
		{"disabled", CompressionDisabled, []string{pmd}, "", deflateAgreement{}},
		{"no offer", ctx, nil, "", deflateAgreement{}},
		{"other extension only", ctx, []string{"x-webkit-deflate-frame"}, "", deflateAgreement{}},
		{"bare, context takeover", ctx, []string{pmd}, pmd, deflateAgreement{}},
		{"bare, no context takeover", noCtx, []string{pmd}, both, deflateAgreement{true, true}},
		{"name case-insensitive", ctx, []string{"PerMessage-Deflate"}, pmd, deflateAgreement{}},
		{"server_no_context_takeover", ctx, []string{pmd + "; server_no_context_takeover"}, pmd + "; server_no_context_takeover", deflateAgreement{serverNoContext: true}},
		{"client_no_context_takeover", ctx, []string{pmd + "; client_no_context_takeover"}, pmd + "; client_no_context_takeover", deflateAgreement{clientNoContext: true}},
		{"both no_context_takeover", ctx, []string{both}, both, deflateAgreement{true, true}},
		{"server_max_window_bits=15", ctx, []string{pmd + "; server_max_window_bits=15"}, pmd + "; server_max_window_bits=15", deflateAgreement{}},
		{"server_max_window_bits quoted 15", noCtx, []string{pmd + `; server_max_window_bits="15"`}, both + "; server_max_window_bits=15", deflateAgreement{true, true}},
		{"server_max_window_bits=10 declined", ctx, []string{pmd + "; server_max_window_bits=10"}, "", deflateAgreement{}},
		{"server_max_window_bits=8 declined", noCtx, []string{pmd + "; server_max_window_bits=8"}, "", deflateAgreement{}},
		{"client_max_window_bits bare", ctx, []string{pmd + "; client_max_window_bits"}, pmd, deflateAgreement{}},
		{"client_max_window_bits=9", ctx, []string{pmd + "; client_max_window_bits=9"}, pmd, deflateAgreement{}},
		{"browser offer", ctx, []string{pmd + "; client_max_window_bits"}, pmd, deflateAgreement{}},
		{"server_max_window_bits without value", ctx, []string{pmd + "; server_max_window_bits"}, "", deflateAgreement{}},
		{"window bits 16", ctx, []string{pmd + "; server_max_window_bits=16"}, "", deflateAgreement{}},
		{"window bits 7", ctx, []string{pmd + "; client_max_window_bits=7"}, "", deflateAgreement{}},
		{"window bits leading zero", ctx, []string{pmd + "; client_max_window_bits=09"}, "", deflateAgreement{}},
		{"window bits not a number", ctx, []string{pmd + "; client_max_window_bits=x"}, "", deflateAgreement{}},
		{"no_context_takeover with value", ctx, []string{pmd + "; server_no_context_takeover=1"}, "", deflateAgreement{}},
		{"client_no_context_takeover with value", ctx, []string{pmd + "; client_no_context_takeover=true"}, "", deflateAgreement{}},
		{"unknown parameter", ctx, []string{pmd + "; foo"}, "", deflateAgreement{}},
		{"duplicate parameter", ctx, []string{pmd + "; server_no_context_takeover; server_no_context_takeover"}, "", deflateAgreement{}},
		{"duplicate window bits", ctx, []string{pmd + "; client_max_window_bits; client_max_window_bits=10"}, "", deflateAgreement{}},
		{"malformed offer", ctx, []string{pmd + ";;"}, "", deflateAgreement{}},
		{"fallback past small window", ctx, []string{pmd + "; server_max_window_bits=10, " + pmd + "; client_no_context_takeover"}, pmd + "; client_no_context_takeover", deflateAgreement{clientNoContext: true}},
		{"fallback past duplicate", noCtx, []string{pmd + "; client_max_window_bits; client_max_window_bits", pmd}, both, deflateAgreement{true, true}},
		{"fallback past malformed", ctx, []string{pmd + `; x="`, pmd}, pmd, deflateAgreement{}},
		{"fallback past other extension", ctx, []string{"x-foo, " + pmd + "; server_no_context_takeover"}, pmd + "; server_no_context_takeover", deflateAgreement{serverNoContext: true}},
		{"first acceptable wins", ctx, []string{pmd + "; server_no_context_takeover, " + pmd}, pmd + "; server_no_context_takeover", deflateAgreement{serverNoContext: true}},
		{"all declined", ctx, []string{pmd + "; server_max_window_bits=9, " + pmd + "; bogus"}, "", deflateAgreement{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, o := range tc.offers {
				h.Add("Sec-WebSocket-Extensions", o)
			}
			resp, agreed, ok := acceptDeflate(h, tc.mode)
			if ok != (tc.resp != "") || resp != tc.resp || agreed != tc.agreed {
				t.Fatalf("got %q %+v %v, want %q %+v", resp, agreed, ok, tc.resp, tc.agreed)
			}
			if ok {
				// The answer must itself be a valid response to a
				// client that made this offer (minus max-window checks).
				if els := parseExtensions([]string{resp}); len(els) != 1 || els[0].err != nil {
					t.Fatalf("response %q does not parse", resp)
				}
			}
		})
	}
}

// TestCheckDeflateResponse covers the client side: valid and invalid
// server answers (RFC 7692 §7).
func TestCheckDeflateResponse(t *testing.T) {
	const (
		ctx   = CompressionContextTakeover
		noCtx = CompressionNoContextTakeover
		pmd   = "permessage-deflate"
	)
	tests := []struct {
		name    string
		mode    CompressionMode
		lines   []string
		ok      bool
		agreed  deflateAgreement
		wantErr bool
	}{
		{"declined", ctx, nil, false, deflateAgreement{}, false},
		{"declined, disabled", CompressionDisabled, nil, false, deflateAgreement{}, false},
		{"not offered", CompressionDisabled, []string{pmd}, false, deflateAgreement{}, true},
		{"bare", ctx, []string{pmd}, true, deflateAgreement{}, false},
		{"server_no_context_takeover unasked", ctx, []string{pmd + "; server_no_context_takeover"}, true, deflateAgreement{serverNoContext: true}, false},
		{"client_no_context_takeover", ctx, []string{pmd + "; client_no_context_takeover"}, true, deflateAgreement{clientNoContext: true}, false},
		{"server_max_window_bits smaller", ctx, []string{pmd + "; server_max_window_bits=9"}, true, deflateAgreement{}, false},
		{"no context takeover accepted", noCtx, []string{pmd + "; server_no_context_takeover; client_no_context_takeover"}, true, deflateAgreement{true, true}, false},
		{"no context takeover, client hint dropped", noCtx, []string{pmd + "; server_no_context_takeover"}, true, deflateAgreement{true, true}, false},
		{"no context takeover not accepted", noCtx, []string{pmd}, false, deflateAgreement{}, true},
		{"client_max_window_bits not offered", ctx, []string{pmd + "; client_max_window_bits=15"}, false, deflateAgreement{}, true},
		{"unknown parameter", ctx, []string{pmd + "; foo"}, false, deflateAgreement{}, true},
		{"duplicate parameter", ctx, []string{pmd + "; client_no_context_takeover; client_no_context_takeover"}, false, deflateAgreement{}, true},
		{"parameter value where none allowed", ctx, []string{pmd + "; server_no_context_takeover=1"}, false, deflateAgreement{}, true},
		{"server_max_window_bits invalid", ctx, []string{pmd + "; server_max_window_bits=16"}, false, deflateAgreement{}, true},
		{"server_max_window_bits no value", ctx, []string{pmd + "; server_max_window_bits"}, false, deflateAgreement{}, true},
		{"other extension", ctx, []string{"x-foo"}, false, deflateAgreement{}, true},
		{"two extensions", ctx, []string{pmd, pmd}, false, deflateAgreement{}, true},
		{"malformed", ctx, []string{pmd + "; ="}, false, deflateAgreement{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agreed, ok, err := checkDeflateResponse(tc.lines, tc.mode)
			if (err != nil) != tc.wantErr || ok != tc.ok || agreed != tc.agreed {
				t.Fatalf("got %+v %v %v, want %+v %v error=%v", agreed, ok, err, tc.agreed, tc.ok, tc.wantErr)
			}
		})
	}
}

func TestDeflateOfferIsAcceptedByOwnServer(t *testing.T) {
	for _, cm := range []CompressionMode{CompressionContextTakeover, CompressionNoContextTakeover} {
		for _, sm := range []CompressionMode{CompressionContextTakeover, CompressionNoContextTakeover} {
			h := http.Header{"Sec-Websocket-Extensions": {deflateOfferFor(cm)}}
			resp, sAgreed, ok := acceptDeflate(h, sm)
			if !ok {
				t.Fatalf("client %d server %d: declined", cm, sm)
			}
			cAgreed, ok, err := checkDeflateResponse([]string{resp}, cm)
			if err != nil || !ok || cAgreed != sAgreed {
				t.Fatalf("client %d server %d: %+v %v %v vs server %+v", cm, sm, cAgreed, ok, err, sAgreed)
			}
		}
	}
}

func TestResolveDeflate(t *testing.T) {
	tests := []struct {
		mode             CompressionMode
		threshold, level int
		want             deflateConfig
		bad              bool
	}{
		{CompressionDisabled, 0, 0, deflateConfig{CompressionDisabled, DefaultCompressionThreshold, DefaultCompressionLevel, true}, false},
		{CompressionContextTakeover, -1, 9, deflateConfig{CompressionContextTakeover, 0, 9, false}, false},
		{CompressionContextTakeover, 0, 0, deflateConfig{CompressionContextTakeover, DefaultCompressionThreshold, DefaultContextTakeoverLevel, true}, false},
		{CompressionNoContextTakeover, 10, -2, deflateConfig{CompressionNoContextTakeover, 10, -2, false}, false},
		{CompressionNoContextTakeover, 10, -1, deflateConfig{CompressionNoContextTakeover, 10, -1, false}, false},
		{CompressionNoContextTakeover, 0, 10, deflateConfig{}, true},
		{CompressionNoContextTakeover, 0, -3, deflateConfig{}, true},
		{CompressionMode(7), 0, 0, deflateConfig{}, true},
	}
	for _, tc := range tests {
		got, err := resolveDeflate(tc.mode, tc.threshold, tc.level)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("resolveDeflate(%d, %d, %d) = %+v, %v", tc.mode, tc.threshold, tc.level, got, err)
		}
	}
}
