package stream

import (
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin is the default origin check: requests without Origin (not
// from a browser) pass, others only when the Origin's host equals the
// request Host.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// AllowOrigins returns a CheckOrigin function that allows requests
// without an Origin header and those whose Origin matches one of the
// patterns. A pattern is scheme://host[:port]; the host may start with
// "*." to match any subdomain (at any depth, but not the bare domain),
// and "*" alone allows every origin. Scheme and host compare
// case-insensitively; a default port (80 for http, 443 for https) may be
// written or left out. AllowOrigins panics on a malformed pattern. The
// returned function is safe for concurrent use.
func AllowOrigins(patterns ...string) func(*http.Request) bool {
	type pat struct {
		any    bool
		scheme string
		suffix string // for *.host: ".host"
		host   string // host:port, normalised
	}
	ps := make([]pat, 0, len(patterns))
	for _, p := range patterns {
		if p == "*" {
			ps = append(ps, pat{any: true})
			continue
		}
		scheme, hostport, ok := strings.Cut(p, "://")
		if !ok || scheme == "" || hostport == "" || strings.ContainsAny(hostport, "/?#@") {
			panic("stream: AllowOrigins: malformed origin pattern " + p)
		}
		scheme = strings.ToLower(scheme)
		hostport = normaliseHostPort(scheme, strings.ToLower(hostport))
		if rest, ok := strings.CutPrefix(hostport, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				panic("stream: AllowOrigins: malformed origin pattern " + p)
			}
			ps = append(ps, pat{scheme: scheme, suffix: "." + rest})
			continue
		}
		if strings.Contains(hostport, "*") {
			panic("stream: AllowOrigins: malformed origin pattern " + p)
		}
		ps = append(ps, pat{scheme: scheme, host: hostport})
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		scheme, hostport, ok := strings.Cut(origin, "://")
		if !ok || hostport == "" || strings.ContainsAny(hostport, "/?#@*") {
			return false
		}
		scheme = strings.ToLower(scheme)
		hostport = normaliseHostPort(scheme, strings.ToLower(hostport))
		for _, p := range ps {
			switch {
			case p.any:
				return true
			case p.scheme != scheme:
			case p.host != "" && p.host == hostport:
				return true
			case p.suffix != "" && len(hostport) > len(p.suffix) && strings.HasSuffix(hostport, p.suffix):
				return true
			}
		}
		return false
	}
}

// normaliseHostPort drops the scheme's default port.
func normaliseHostPort(scheme, hostport string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(hostport, ":80"):
		return strings.TrimSuffix(hostport, ":80")
	case scheme == "https" && strings.HasSuffix(hostport, ":443"):
		return strings.TrimSuffix(hostport, ":443")
	}
	return hostport
}
