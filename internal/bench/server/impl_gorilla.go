package server

import (
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// gorilla/websocket as its examples use it: ReadMessage/WriteMessage for
// echo, and the chat example's hub for broadcast (one writer goroutine per
// connection fed by a buffered channel; a subscriber whose channel is full
// is dropped).

func init() {
	Register(Impl{Name: "gorilla", Protocol: WebSocket, New: newGorilla})
}

type gorillaServer struct {
	up      websocket.Upgrader
	deflate websocket.Upgrader
	mu      sync.Mutex
	clients map[*gorillaClient]struct{}
}

type gorillaClient struct {
	conn *websocket.Conn
	send chan []byte
}

func newGorilla() Server {
	return &gorillaServer{
		up:      websocket.Upgrader{ReadBufferSize: BufferSize, WriteBufferSize: BufferSize},
		deflate: websocket.Upgrader{ReadBufferSize: BufferSize, WriteBufferSize: BufferSize, EnableCompression: true},
		clients: make(map[*gorillaClient]struct{}),
	}
}

func (s *gorillaServer) Echo(w http.ResponseWriter, r *http.Request) {
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	gorillaEcho(conn)
}

// EchoDeflate accepts permessage-deflate, which gorilla negotiates without
// context takeover only, and compresses at DeflateLevel. Gorilla has no
// threshold: once negotiated, every message it writes is compressed.
func (s *gorillaServer) EchoDeflate(w http.ResponseWriter, r *http.Request) {
	conn, err := s.deflate.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	if err := conn.SetCompressionLevel(DeflateLevel); err != nil {
		conn.Close()
		return
	}
	gorillaEcho(conn)
}

func gorillaEcho(conn *websocket.Conn) {
	defer conn.Close()
	conn.SetReadLimit(MaxMessage)
	for {
		mt, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

func (s *gorillaServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(MaxMessage)
	c := &gorillaClient{conn: conn, send: make(chan []byte, SendQueue)}
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range c.send {
			if err := conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				conn.Close()
				for range c.send {
				}
				return
			}
		}
	}()
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	s.drop(c)
	<-done
	conn.Close()
}

func (s *gorillaServer) drop(c *gorillaClient) {
	s.mu.Lock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.send)
	}
	s.mu.Unlock()
}

func (s *gorillaServer) Broadcast(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		select {
		case c.send <- msg:
		default:
			delete(s.clients, c)
			close(c.send)
		}
	}
}

func (s *gorillaServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.conn.Close()
	}
	return nil
}
