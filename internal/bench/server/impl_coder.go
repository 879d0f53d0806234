package server

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// github.com/coder/websocket as its examples use it: Reader/Writer with
// io.Copy for echo, and the chat example's subscriber loop for broadcast
// (CloseRead, a buffered channel per subscriber, a write timeout per
// message; a subscriber whose channel is full is dropped).

func init() {
	Register(Impl{Name: "coder", Protocol: WebSocket, New: newCoder})
}

type coderServer struct {
	mu   sync.Mutex
	subs map[*coderSub]struct{}
}

type coderSub struct {
	msgs      chan []byte
	closeSlow func()
}

func newCoder() Server {
	return &coderServer{subs: make(map[*coderSub]struct{})}
}

var coderAccept = &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}

// coderDeflateAccept accepts permessage-deflate without context takeover.
// The library compresses at flate.BestSpeed (DeflateLevel), which it does
// not let be changed, with a flate.Writer from a sync.Pool per message; the
// threshold applies to the first Write of a message.
var coderDeflateAccept = &websocket.AcceptOptions{
	CompressionMode:      websocket.CompressionNoContextTakeover,
	CompressionThreshold: DeflateThreshold,
}

func (s *coderServer) Echo(w http.ResponseWriter, r *http.Request) {
	coderEcho(w, r, coderAccept)
}

func (s *coderServer) EchoDeflate(w http.ResponseWriter, r *http.Request) {
	coderEcho(w, r, coderDeflateAccept)
}

func coderEcho(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(MaxMessage)
	ctx := r.Context()
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			return
		}
		wr, err := c.Writer(ctx, typ)
		if err != nil {
			return
		}
		if _, err := io.Copy(wr, rd); err != nil {
			return
		}
		if err := wr.Close(); err != nil {
			return
		}
	}
}

func (s *coderServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, coderAccept)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(MaxMessage)
	ctx := c.CloseRead(r.Context())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := &coderSub{msgs: make(chan []byte, SendQueue), closeSlow: cancel}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	for {
		select {
		case msg := <-sub.msgs:
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Write(wctx, websocket.MessageBinary, msg)
			wcancel()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (s *coderServer) Broadcast(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.msgs <- msg:
		default:
			delete(s.subs, sub)
			sub.closeSlow()
		}
	}
}

func (s *coderServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.closeSlow()
	}
	return nil
}
