package stream

import (
	"errors"
	"net/http"
	"strings"
)

// admit runs the checks that may turn away a well-formed upgrade request:
// Authorize, then the Limiter. When it refuses, it has answered the
// request and returns a *HandshakeError. Otherwise release, if not nil,
// gives the Limiter seat back and must be called once the connection is
// closed or the upgrade fails.
func (cfg *WSConfig) admit(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if cfg.Authorize != nil {
		if aerr := cfg.Authorize(r); aerr != nil {
			status := authorizeStatus(aerr)
			http.Error(w, http.StatusText(status), status)
			return nil, &HandshakeError{Op: "upgrade", Status: status, Reason: "not authorized", Err: aerr}
		}
	}
	if cfg.Limiter == nil {
		return nil, nil
	}
	release, ok := cfg.Limiter.Acquire(r)
	if !ok {
		w.Header().Set("Retry-After", cfg.Limiter.retryAfter())
		status := http.StatusServiceUnavailable
		http.Error(w, http.StatusText(status), status)
		return nil, &HandshakeError{Op: "upgrade", Status: status, Reason: "connection limit reached"}
	}
	return release, nil
}

// authorizeStatus is the status answering a request Authorize refused
// with err.
func authorizeStatus(err error) int {
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		if s := hs.HTTPStatus(); s >= 400 && s <= 599 {
			return s
		}
	}
	return http.StatusForbidden
}

// OfferedSubprotocol returns what follows prefix in the first
// subprotocol the client of r offered in Sec-WebSocket-Protocol that
// starts with prefix, and whether there was one. It is for the browser
// token idiom, where a client that cannot set headers carries a
// credential as a subprotocol: new WebSocket(url, ["token." + jwt,
// "chat"]); see the package documentation. Such a subprotocol must never
// be listed in WSConfig.Subprotocols, so that it is never echoed back.
func OfferedSubprotocol(r *http.Request, prefix string) (string, bool) {
	for _, p := range headerTokens(r.Header, "Sec-WebSocket-Protocol") {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			return rest, true
		}
	}
	return "", false
}
