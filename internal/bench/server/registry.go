// Package server holds the benchmark's server implementations, one per
// library, each serving the same endpoints with the same behaviour so that
// the load generator measures the libraries and nothing else.
//
// Each implementation lives in its own file, impl_<name>.go, and registers
// itself from an init function with Register.
package server

import (
	"fmt"
	"net/http"
	"sort"
)

// Protocol is the wire protocol an implementation speaks on its data
// endpoints; the load generator picks its client by it.
type Protocol string

const (
	// WebSocket implementations serve /echo and /sub (RFC 6455 frames).
	WebSocket Protocol = "websocket"
	// SSE implementations serve /sse (text/event-stream).
	SSE Protocol = "sse"
	// Raw is the baseline: /echo and /sub answer 101 and then speak
	// length-prefixed frames (4-byte big-endian length, then the payload)
	// straight over TCP.
	Raw Protocol = "raw"
)

// Server is one running implementation. Subscribe serves /sub (WebSocket,
// Raw) or /sse (SSE): it keeps the client subscribed until it leaves.
// Broadcast sends msg to every current subscriber; the caller never modifies
// msg afterwards, so it may be retained. Close disconnects every subscriber.
// All methods are safe for concurrent use.
type Server interface {
	Subscribe(w http.ResponseWriter, r *http.Request)
	Broadcast(msg []byte)
	Close() error
}

// Echoer is implemented by WebSocket and Raw servers: Echo serves /echo,
// sending every message back to its sender, with its type, until the client
// leaves. It is safe for concurrent use.
type Echoer interface {
	Echo(w http.ResponseWriter, r *http.Request)
}

// DeflateEchoer is implemented by WebSocket servers whose library supports
// permessage-deflate (RFC 7692): EchoDeflate serves /echo-deflate like Echo
// serves /echo, with compression accepted when the client offers it
// without context takeover, at DeflateLevel, and messages of
// DeflateThreshold bytes or more sent compressed where the library lets the
// threshold be set. It is safe for concurrent use.
type DeflateEchoer interface {
	EchoDeflate(w http.ResponseWriter, r *http.Request)
}

// Impl describes a registered implementation.
type Impl struct {
	// Name identifies the implementation on the command line and in tables.
	Name string
	// Protocol is what its data endpoints speak.
	Protocol Protocol
	// Ours marks the implementation built on package stream.
	Ours bool
	// New starts a fresh server.
	New func() Server
}

var registry = map[string]Impl{}

// Register adds impl to the registry. It is meant for init functions and is
// not safe for concurrent use; it panics on a duplicate or incomplete entry,
// which is a programming error.
func Register(impl Impl) {
	if impl.Name == "" || impl.New == nil {
		panic("server: register: name and New are required")
	}
	switch impl.Protocol {
	case WebSocket, SSE, Raw:
	default:
		panic(fmt.Sprintf("server: register %s: unknown protocol %q", impl.Name, impl.Protocol))
	}
	if _, dup := registry[impl.Name]; dup {
		panic("server: register: duplicate implementation " + impl.Name)
	}
	registry[impl.Name] = impl
}

// Lookup returns the implementation registered under name. It is safe for
// concurrent use once init functions have run.
func Lookup(name string) (Impl, bool) {
	impl, ok := registry[name]
	return impl, ok
}

// All returns every registered implementation, ours first, then by protocol
// and name, the raw baseline last. It is safe for concurrent use once init
// functions have run.
func All() []Impl {
	out := make([]Impl, 0, len(registry))
	for _, impl := range registry {
		out = append(out, impl)
	}
	rank := func(i Impl) int {
		switch {
		case i.Ours:
			return 0
		case i.Protocol == Raw:
			return 2
		}
		return 1
	}
	sort.Slice(out, func(a, b int) bool {
		ra, rb := rank(out[a]), rank(out[b])
		if ra != rb {
			return ra < rb
		}
		if out[a].Protocol != out[b].Protocol {
			return out[a].Protocol < out[b].Protocol
		}
		return out[a].Name < out[b].Name
	})
	return out
}
