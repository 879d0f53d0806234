package server

import (
	"net/http"
	"sync"

	"github.com/lxzan/gws"
)

// github.com/lxzan/gws as its examples use it: an event handler whose
// OnMessage writes the message back for echo, and gws.Broadcaster (each
// connection's asynchronous write queue, frame encoded once) for broadcast.

func init() {
	Register(Impl{Name: "gws", Protocol: WebSocket, New: newGws})
}

type gwsServer struct {
	echo    *gws.Upgrader
	deflate *gws.Upgrader
	sub     *gws.Upgrader
	mu      sync.Mutex
	subs    map[*gws.Conn]struct{}
}

func newGws() Server {
	s := &gwsServer{subs: make(map[*gws.Conn]struct{})}
	opt := func() *gws.ServerOption {
		return &gws.ServerOption{ReadBufferSize: BufferSize, ReadMaxPayloadSize: MaxMessage, WriteMaxPayloadSize: MaxMessage}
	}
	s.echo = gws.NewUpgrader(gwsEcho{}, opt())
	dopt := opt()
	dopt.PermessageDeflate = gws.PermessageDeflate{
		Enabled:               true,
		Level:                 DeflateLevel,
		Threshold:             DeflateThreshold,
		ServerContextTakeover: false,
		ClientContextTakeover: false,
	}
	s.deflate = gws.NewUpgrader(gwsEcho{}, dopt)
	s.sub = gws.NewUpgrader(gwsSub{s}, opt())
	return s
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	_ = m.Close()
}

type gwsSub struct{ s *gwsServer }

func (h gwsSub) OnOpen(c *gws.Conn) {
	h.s.mu.Lock()
	h.s.subs[c] = struct{}{}
	h.s.mu.Unlock()
}

func (h gwsSub) OnClose(c *gws.Conn, err error) {
	h.s.mu.Lock()
	delete(h.s.subs, c)
	h.s.mu.Unlock()
}

func (gwsSub) OnPing(c *gws.Conn, p []byte)          { _ = c.WritePong(p) }
func (gwsSub) OnPong(c *gws.Conn, p []byte)          {}
func (gwsSub) OnMessage(c *gws.Conn, m *gws.Message) { _ = m.Close() }

func (s *gwsServer) Echo(w http.ResponseWriter, r *http.Request) {
	c, err := s.echo.Upgrade(w, r)
	if err != nil {
		return
	}
	c.ReadLoop()
}

// EchoDeflate accepts permessage-deflate without context takeover either
// way, at DeflateLevel from DeflateThreshold bytes. gws compresses with
// github.com/klauspost/compress/flate and a pool of 32 compressors shared by
// the connections (its default PoolSize).
func (s *gwsServer) EchoDeflate(w http.ResponseWriter, r *http.Request) {
	c, err := s.deflate.Upgrade(w, r)
	if err != nil {
		return
	}
	c.ReadLoop()
}

func (s *gwsServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	c, err := s.sub.Upgrade(w, r)
	if err != nil {
		return
	}
	c.ReadLoop()
}

func (s *gwsServer) Broadcast(msg []byte) {
	b := gws.NewBroadcaster(gws.OpcodeBinary, msg)
	defer b.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.subs {
		_ = b.Broadcast(c)
	}
}

func (s *gwsServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.subs {
		_ = c.NetConn().Close()
	}
	return nil
}
