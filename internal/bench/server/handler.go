package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
)

// Handler routes the benchmark's endpoints to s:
//
//	GET  /echo     Echo (WebSocket and Raw only)
//	GET  /echo-detached  Echo, returning from the handler once the
//	               connection is hijacked (see Detached)
//	GET  /echo-deflate  EchoDeflate (WebSocket servers that implement
//	               DeflateEchoer)
//	GET  /sub      Subscribe (WebSocket and Raw)
//	GET  /sse      Subscribe (SSE)
//	POST /publish  Broadcast the request body to every subscriber
//	GET  /debug    JSON {"pid":..,"goroutines":..}; ?gc=1 first collects
//	               garbage and returns freed memory to the OS
//
// The handler is safe for concurrent use.
func Handler(s Server, p Protocol) http.Handler {
	mux := http.NewServeMux()
	if e, ok := s.(Echoer); ok && p != SSE {
		mux.HandleFunc("GET /echo", e.Echo)
		mux.HandleFunc("GET /echo-detached", Detached(e.Echo))
	}
	if d, ok := s.(DeflateEchoer); ok && p == WebSocket {
		mux.HandleFunc("GET /echo-deflate", d.EchoDeflate)
	}
	if p == SSE {
		mux.HandleFunc("GET /sse", s.Subscribe)
	} else {
		mux.HandleFunc("GET /sub", s.Subscribe)
	}
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(r.Body, MaxMessage+1))
		if err != nil || len(msg) > MaxMessage {
			http.Error(w, "publish: body unreadable or too large", http.StatusBadRequest)
			return
		}
		s.Broadcast(msg)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /debug", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			debug.FreeOSMemory()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(DebugInfo{PID: os.Getpid(), Goroutines: runtime.NumGoroutine()})
	})
	return mux
}

// DebugInfo is the body of /debug.
type DebugInfo struct {
	PID        int `json:"pid"`
	Goroutines int `json:"goroutines"`
}
