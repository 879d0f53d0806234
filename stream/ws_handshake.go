package stream

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// HandshakeError reports a failed opening handshake. On the server,
// Upgrade has already answered the request with Status; on the client,
// Status is the response's status code (0 when no response arrived).
//
// WSConfig.Authorize may return a *HandshakeError to choose the status
// of a refusal, for example 401 Unauthorized; see Authorize.
type HandshakeError struct {
	Op     string // "upgrade" or "dial"
	Status int
	Reason string
	// Err is the underlying cause, if any: the error Authorize returned
	// when it refused the request.
	Err error
}

// HTTPStatus returns Status. Upgrade uses it to answer a request that
// Authorize refused with an error carrying a *HandshakeError.
func (e *HandshakeError) HTTPStatus() int { return e.Status }

// Unwrap returns the cause.
func (e *HandshakeError) Unwrap() error { return e.Err }

func (e *HandshakeError) Error() string {
	s := "stream: " + e.Op + ": " + e.Reason
	if e.Status != 0 {
		s += " (HTTP " + strconv.Itoa(e.Status) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// acceptGUID is the GUID of RFC 6455 §1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// headerHasToken reports whether a comma-separated header, over all its
// lines, holds token, compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for part := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the tokens of a comma-separated header.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, line := range h.Values(name) {
		for part := range strings.SplitSeq(line, ",") {
			if t := strings.TrimSpace(part); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// syntax of a subprotocol name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
