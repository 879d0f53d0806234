package server

import (
	"net/http"

	"github.com/stdrealtime/realtime/stream"
)

// Ours for WebSocket: stream.Upgrade for echo (AppendMessage into a reused
// buffer, then WriteMessage; with permessage-deflate for /echo-deflate) and
// stream.Hub for broadcast,
// with keepalive pings off (no other implementation sends them) and each
// subscriber's queue holding SendQueue messages like the others'.

func init() {
	Register(Impl{Name: "ours", Protocol: WebSocket, Ours: true, New: newOurs})
}

var oursConfig = stream.WSConfig{ReadLimit: MaxMessage, ReadIdleTimeout: -1}

// oursDeflateConfig is oursConfig with permessage-deflate accepted, every
// message compressed on its own at DeflateLevel from DeflateThreshold bytes.
var oursDeflateConfig = stream.WSConfig{
	ReadLimit:            MaxMessage,
	ReadIdleTimeout:      -1,
	Compression:          stream.CompressionNoContextTakeover,
	CompressionLevel:     DeflateLevel,
	CompressionThreshold: DeflateThreshold,
}

type oursServer struct{ hub *stream.Hub }

func newOurs() Server {
	return &oursServer{hub: stream.NewHub(stream.HubConfig{QueueLen: SendQueue, MessageType: stream.BinaryMessage})}
}

// Echo and EchoDeflate upgrade in the handler itself: the idle scenarios
// measure the stack an echo handler holds while it waits, and a function
// between the handler and Upgrade that took the config by value left it
// 4 KiB deeper.
func (s *oursServer) Echo(w http.ResponseWriter, r *http.Request) {
	c, err := stream.Upgrade(w, r, oursConfig)
	if err != nil {
		return
	}
	oursEchoLoop(c)
}

func (s *oursServer) EchoDeflate(w http.ResponseWriter, r *http.Request) {
	c, err := stream.Upgrade(w, r, oursDeflateConfig)
	if err != nil {
		return
	}
	oursEchoLoop(c)
}

// oursEchoLoop sends every message back until the connection ends.
func oursEchoLoop(c *stream.WebSocketConn) {
	defer c.Close()
	var buf []byte // reused, as gobwas and gws reuse theirs
	for {
		mt, p, err := c.AppendMessage(buf[:0])
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return
		}
		buf = p
	}
}

func (s *oursServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	c, err := stream.Upgrade(w, r, oursConfig)
	if err != nil {
		return
	}
	s.hub.Register(c)
	defer s.hub.Unregister(c)
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func (s *oursServer) Broadcast(msg []byte) { s.hub.Broadcast(msg) }

func (s *oursServer) Close() error {
	s.hub.Stop()
	return nil
}
