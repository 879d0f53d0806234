package stream

import (
	"errors"
	"net/http"
	"strings"
)

// This file parses and answers the Sec-WebSocket-Extensions header for
// the permessage-deflate extension of RFC 7692.

// deflateExtension is the registered name of the extension (RFC 7692 §7).
const deflateExtension = "permessage-deflate"

// The extension parameters of RFC 7692 §7.1.
const (
	paramServerNoContext = "server_no_context_takeover"
	paramClientNoContext = "client_no_context_takeover"
	paramServerMaxWindow = "server_max_window_bits"
	paramClientMaxWindow = "client_max_window_bits"
)

// extParam is one extension parameter: name, or name=value.
type extParam struct {
	name     string
	value    string // unquoted
	hasValue bool
}

// extElement is one element of a Sec-WebSocket-Extensions list. err is
// set when the element does not follow the grammar; the element is then
// unusable, but the elements after it are still parsed.
type extElement struct {
	name   string
	params []extParam
	err    error
}

// deflateAgreement is what a handshake settled: whether each side resets
// its compression context after every message.
type deflateAgreement struct {
	serverNoContext bool // the server compresses every message afresh
	clientNoContext bool // the client compresses every message afresh
}

// parseExtensions parses the lines of a Sec-WebSocket-Extensions header
// (RFC 6455 §9.1):
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// with optional white space around the separators. Empty list elements
// are skipped (RFC 9110 §5.6.1). "When using the quoted-string syntax
// variant, the value after quoted-string unescaping MUST conform to the
// 'token' ABNF", so such a value is checked after unquoting.
func parseExtensions(lines []string) []extElement {
	var out []extElement
	for _, s := range lines {
		i := 0
		for {
			i = skipOWS(s, i)
			for i < len(s) && s[i] == ',' {
				i = skipOWS(s, i+1)
			}
			if i >= len(s) {
				break
			}
			el, next, err := parseExtElement(s, i)
			if err != nil {
				el = extElement{name: el.name, err: err}
				next = skipElement(s, i)
			}
			out = append(out, el)
			i = next
		}
	}
	return out
}

var (
	errExtSyntax   = errors.New("malformed extension list")
	errExtQuoted   = errors.New("quoted parameter value is not a token")
	errExtUnclosed = errors.New("unterminated quoted string")
)

// parseExtElement parses one element starting at s[i] and returns the
// position of the comma that ends it, or len(s).
func parseExtElement(s string, i int) (extElement, int, error) {
	var el extElement
	el.name, i = scanToken(s, i)
	if el.name == "" {
		return el, i, errExtSyntax
	}
	for {
		i = skipOWS(s, i)
		if i >= len(s) || s[i] == ',' {
			return el, i, nil
		}
		if s[i] != ';' {
			return el, i, errExtSyntax
		}
		i = skipOWS(s, i+1)
		var p extParam
		p.name, i = scanToken(s, i)
		if p.name == "" {
			return el, i, errExtSyntax
		}
		i = skipOWS(s, i)
		if i < len(s) && s[i] == '=' {
			i = skipOWS(s, i+1)
			p.hasValue = true
			if i < len(s) && s[i] == '"' {
				v, next, err := scanQuoted(s, i)
				if err != nil {
					return el, next, err
				}
				if !validToken(v) {
					return el, next, errExtQuoted
				}
				p.value, i = v, next
			} else {
				p.value, i = scanToken(s, i)
				if p.value == "" {
					return el, i, errExtSyntax
				}
			}
		}
		el.params = append(el.params, p)
	}
}

// skipElement returns the position of the comma ending the element that
// starts at s[i], honouring quoted strings, or len(s).
func skipElement(s string, i int) int {
	quoted := false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			return i
		}
	}
	return len(s)
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// scanToken returns the token starting at s[i] ("" if none) and the
// position after it.
func scanToken(s string, i int) (string, int) {
	j := i
	for j < len(s) && isTokenChar(s[j]) {
		j++
	}
	return s[i:j], j
}

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) < 0
}

// scanQuoted unescapes the quoted-string starting at s[i] (RFC 9110
// §5.6.4) and returns it and the position after the closing quote.
func scanQuoted(s string, i int) (string, int, error) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\':
			i++
			if i >= len(s) {
				return "", i, errExtUnclosed
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", i, errExtUnclosed
}

// parseWindowBits parses a window-bits value. RFC 7692 §7.1.2.1 and
// §7.1.2.2: the value is "a decimal integer value without leading zeros
// between 8 to 15, inclusive".
func parseWindowBits(v string) (int, bool) {
	switch len(v) {
	case 1:
		if v[0] == '8' || v[0] == '9' {
			return int(v[0] - '0'), true
		}
	case 2:
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return 10 + int(v[1]-'0'), true
		}
	}
	return 0, false
}

// deflateOffer is a permessage-deflate offer whose parameters are valid.
type deflateOffer struct {
	serverNoContext bool
	clientNoContext bool
	serverMaxWindow int // 0 when absent
	clientMaxWindow bool
}

// parseDeflateOffer checks the parameters of one offer. RFC 7692 §7: "A
// server MUST decline an extension negotiation offer for this extension
// if any of the following conditions are met: The negotiation offer
// contains an extension parameter not defined for use in an offer. The
// negotiation offer contains an extension parameter with an invalid
// value. The negotiation offer contains multiple extension parameters
// with the same name. The server doesn't support the offered
// configuration."
func parseDeflateOffer(el extElement) (deflateOffer, bool) {
	var o deflateOffer
	if el.err != nil || !strings.EqualFold(el.name, deflateExtension) {
		return o, false
	}
	var seen [4]bool
	for _, p := range el.params {
		k := deflateParamIndex(p.name)
		if k < 0 || seen[k] {
			return o, false
		}
		seen[k] = true
		switch k {
		case 0, 1:
			// §7.1.1.1, §7.1.1.2: these parameters have no value.
			if p.hasValue {
				return o, false
			}
			if k == 0 {
				o.serverNoContext = true
			} else {
				o.clientNoContext = true
			}
		case 2:
			bits, ok := parseWindowBits(p.value)
			if !p.hasValue || !ok {
				return o, false
			}
			o.serverMaxWindow = bits
		case 3:
			// §7.1.2.2: in an offer the value is optional.
			if p.hasValue {
				if _, ok := parseWindowBits(p.value); !ok {
					return o, false
				}
			}
			o.clientMaxWindow = true
		}
	}
	// compress/flate always uses a 32 KiB (15-bit) window, so an offer
	// that asks the server for a smaller one is a configuration this
	// server does not support and is declined, never accepted and then
	// violated.
	if o.serverMaxWindow != 0 && o.serverMaxWindow < 15 {
		return o, false
	}
	return o, true
}

// deflateParamIndex numbers the known parameters; -1 for others.
func deflateParamIndex(name string) int {
	for i, n := range [...]string{paramServerNoContext, paramClientNoContext, paramServerMaxWindow, paramClientMaxWindow} {
		if strings.EqualFold(name, n) {
			return i
		}
	}
	return -1
}

// acceptDeflate picks the first acceptable permessage-deflate offer of a
// request and returns the Sec-WebSocket-Extensions response value and
// the agreement; ok is false when compression is off or every offer is
// declined, and the connection then goes uncompressed. Offers are tried
// in the client's order of preference (RFC 6455 §9.1).
func acceptDeflate(h http.Header, mode CompressionMode) (resp string, agreed deflateAgreement, ok bool) {
	if mode == CompressionDisabled {
		return "", agreed, false
	}
	for _, el := range parseExtensions(h.Values("Sec-WebSocket-Extensions")) {
		o, valid := parseDeflateOffer(el)
		if !valid {
			continue
		}
		// §7.1.1.1: "A server accepts an extension negotiation offer
		// that includes the "server_no_context_takeover" extension
		// parameter by including the "server_no_context_takeover"
		// extension parameter in the corresponding extension
		// negotiation response"; it MAY include it unasked. §7.1.1.2:
		// the server MAY include "client_no_context_takeover" too.
		// Echoing the client's hint lets this side pool its inflater.
		agreed.serverNoContext = o.serverNoContext || mode == CompressionNoContextTakeover
		agreed.clientNoContext = o.clientNoContext || mode == CompressionNoContextTakeover
		resp = deflateExtension
		if agreed.serverNoContext {
			resp += "; " + paramServerNoContext
		}
		if agreed.clientNoContext {
			resp += "; " + paramClientNoContext
		}
		if o.serverMaxWindow != 0 {
			// §7.1.2.1: "A server accepts an extension negotiation
			// offer with this parameter by including the
			// "server_max_window_bits" extension parameter in the
			// extension negotiation response ... with the same or
			// smaller value as the offer." Only 15 gets here.
			resp += "; " + paramServerMaxWindow + "=15"
		}
		// client_max_window_bits is left out: the client may use any
		// window, which the inflater supports.
		return resp, agreed, true
	}
	return "", deflateAgreement{}, false
}

// deflateOfferFor is the Sec-WebSocket-Extensions value a client sends
// for mode, or "" when compression is off. client_max_window_bits is
// never offered: compress/flate cannot write with a smaller window.
func deflateOfferFor(mode CompressionMode) string {
	switch mode {
	case CompressionContextTakeover:
		return deflateExtension
	case CompressionNoContextTakeover:
		return deflateExtension + "; " + paramServerNoContext + "; " + paramClientNoContext
	}
	return ""
}

// checkDeflateResponse validates the server's Sec-WebSocket-Extensions
// answer to the offer made for mode. ok is false when the server accepted
// no extension. RFC 7692 §7: "A client MUST _Fail the WebSocket
// Connection_ if the peer server accepted an extension negotiation offer
// for this extension with an extension negotiation response meeting any
// of the following conditions: The negotiation response contains an
// extension parameter not defined for use in a response. The negotiation
// response contains an extension parameter with an invalid value. The
// negotiation response contains multiple extension parameters with the
// same name. The client does not support the configuration that the
// response represents."
func checkDeflateResponse(lines []string, mode CompressionMode) (agreed deflateAgreement, ok bool, err error) {
	els := parseExtensions(lines)
	if len(els) == 0 {
		return agreed, false, nil
	}
	if mode == CompressionDisabled {
		return deflateAgreement{}, false, errors.New("server selected an extension that was not offered")
	}
	// RFC 6455 §9.1: the server answers with extensions the client
	// offered; only one was.
	if len(els) > 1 {
		return deflateAgreement{}, false, errors.New("server selected more than one extension")
	}
	el := els[0]
	if el.err != nil {
		return deflateAgreement{}, false, errors.New("malformed Sec-WebSocket-Extensions: " + el.err.Error())
	}
	if !strings.EqualFold(el.name, deflateExtension) {
		return deflateAgreement{}, false, errors.New("server selected an extension that was not offered")
	}
	var seen [4]bool
	for _, p := range el.params {
		k := deflateParamIndex(p.name)
		if k < 0 {
			return deflateAgreement{}, false, errors.New("permessage-deflate: unknown parameter " + p.name)
		}
		if seen[k] {
			return deflateAgreement{}, false, errors.New("permessage-deflate: duplicate parameter " + p.name)
		}
		seen[k] = true
		switch k {
		case 0, 1:
			if p.hasValue {
				return deflateAgreement{}, false, errors.New("permessage-deflate: " + p.name + " takes no value")
			}
			if k == 0 {
				agreed.serverNoContext = true
			} else {
				agreed.clientNoContext = true
			}
		case 2:
			// §7.1.2.1: the server may announce a smaller window it
			// compresses with; the inflater handles any window.
			if _, ok := parseWindowBits(p.value); !p.hasValue || !ok {
				return deflateAgreement{}, false, errors.New("permessage-deflate: invalid server_max_window_bits")
			}
		case 3:
			// §7.1.2.2: "If a received extension negotiation offer
			// doesn't have the "client_max_window_bits" extension
			// parameter, the corresponding extension negotiation
			// response to the offer MUST NOT include the
			// "client_max_window_bits" extension parameter."
			return deflateAgreement{}, false, errors.New("permessage-deflate: client_max_window_bits was not offered")
		}
	}
	if mode == CompressionNoContextTakeover {
		// The offer asked for server_no_context_takeover; §7.1.1.1: the
		// server accepts it "by including the
		// "server_no_context_takeover" extension parameter" in the
		// response. A response without it is a configuration this
		// client was not configured to support.
		if !agreed.serverNoContext {
			return deflateAgreement{}, false, errors.New("permessage-deflate: server did not accept server_no_context_takeover")
		}
		agreed.clientNoContext = true
	}
	return agreed, true, nil
}
