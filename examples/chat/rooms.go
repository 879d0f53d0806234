package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/stream"
)

// Limits on what a client may send and what the server keeps.
const (
	maxNameLen  = 32   // characters of a user name
	maxRoomLen  = 32   // characters of a room name
	maxTextLen  = 1000 // characters of a chat message
	readLimit   = 8 << 10
	historyLen  = 50  // messages kept per room, sent to who joins it
	maxRooms    = 100 // rooms kept; an empty one is forgotten to make room
	feedReplay  = 500 // activity events kept for feeds that reconnect
	maxMembers  = 200 // people in one room
	maxSessions = 10000
)

// Message types of the WebSocket protocol, in stream.WSMessage envelopes.
// Clients send join, say and leave; the server sends the others.
const (
	typeJoin     = "join"     // {"name":..., "room":...}: enter a room, leaving the current one
	typeSay      = "say"      // {"text":...}: a message to the room
	typeLeave    = "leave"    // no payload: leave the room
	typeJoined   = "joined"   // to the joiner: the room, its members and its history
	typeLeft     = "left"     // to the leaver: the room it left
	typeMessage  = "message"  // to the room: a chatMessage
	typePresence = "presence" // to the room: who came or went, and who is there
	typeError    = "error"    // to the sender: why its last message was refused
)

// joinRequest is the payload of a join message.
type joinRequest struct {
	Name string `json:"name"`
	Room string `json:"room"`
}

// sayRequest is the payload of a say message.
type sayRequest struct {
	Text string `json:"text"`
}

// chatMessage is one message said in a room.
type chatMessage struct {
	Name string    `json:"name"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// joined is the payload of a joined message.
type joined struct {
	Room    string        `json:"room"`
	Name    string        `json:"name"`
	Members []string      `json:"members"`
	History []chatMessage `json:"history"` // never null
}

// presence is the payload of a presence message, and the data of the
// activity feed's join and leave events.
type presence struct {
	Room    string   `json:"room"`
	Name    string   `json:"name"`
	Event   string   `json:"event"` // "join" or "leave"
	Members []string `json:"members"`
}

// messageCount is the data of the activity feed's messages events.
type messageCount struct {
	Room  string `json:"room"`
	Count uint64 `json:"count"` // messages said in the room since the server started
}

// room is a chat room's state. Its members are also a stream.Hub room of
// the same name, through which messages reach them.
type room struct {
	members map[string]*session // by name
	history []chatMessage       // the last historyLen messages, oldest first
	count   uint64
	used    time.Time // last join or message
}

// session is one WebSocket connection, owned by its reading goroutine;
// name and room are guarded by chat.mu.
type session struct {
	id   string // its application ID in the hub
	c    *stream.WebSocketConn
	name string
	room string // "" when in no room
}

// chat holds the rooms. All methods are safe for concurrent use: one lock
// guards every room, so a room's history, its members and the order of
// what they are sent always agree.
type chat struct {
	hub  *stream.Hub
	feed *stream.SSEBroker

	mu    sync.Mutex
	rooms map[string]*room
}

func newChat(hub *stream.Hub, feed *stream.SSEBroker) *chat {
	return &chat{hub: hub, feed: feed, rooms: make(map[string]*room)}
}

// errRequest is a client mistake; its text is sent back.
type errRequest struct{ msg string }

func (e *errRequest) Error() string { return e.msg }

func requestErrorf(format string, args ...any) error {
	return &errRequest{fmt.Sprintf(format, args...)}
}

// cleanName trims s and checks it is 1 to max characters with no control
// characters and valid UTF-8.
func cleanName(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", requestErrorf("%s is required", what)
	case !utf8.ValidString(s):
		return "", requestErrorf("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return "", requestErrorf("%s longer than %d characters", what, max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", requestErrorf("%s contains control characters", what)
	}
	return s, nil
}

// handle carries out one message from s's client. A mistake is answered
// with an error message and the connection stays open.
func (ch *chat) handle(s *session, p []byte) {
	m, err := stream.ParseWSMessage(p)
	if err == nil {
		switch m.Type {
		case typeJoin:
			var req joinRequest
			if err = decodePayload(m.Payload, &req); err == nil {
				err = ch.join(s, req)
			}
		case typeSay:
			var req sayRequest
			if err = decodePayload(m.Payload, &req); err == nil {
				err = ch.say(s, req.Text)
			}
		case typeLeave:
			if !ch.leave(s) {
				err = requestErrorf("not in a room")
			}
		default:
			err = requestErrorf("unknown message type %q", m.Type)
		}
	} else {
		err = requestErrorf("invalid message: %v", err)
	}
	if err != nil {
		ch.sendTo(s, typeError, map[string]string{"error": err.Error()})
	}
}

// decodePayload decodes a payload that must be a JSON object with known
// fields only.
func decodePayload(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return requestErrorf("payload is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return requestErrorf("invalid payload: %v", err)
	}
	return nil
}

// join moves s into a room under a name: it leaves its current room, is
// sent the room's members and history, and the room is told it came.
func (ch *chat) join(s *session, req joinRequest) error {
	name, err := cleanName("name", req.Name, maxNameLen)
	if err != nil {
		return err
	}
	roomName, err := cleanName("room", req.Room, maxRoomLen)
	if err != nil {
		return err
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if s.room == roomName && s.name == name {
		return requestErrorf("already in %q as %q", roomName, name)
	}
	r := ch.rooms[roomName]
	if r == nil {
		if len(ch.rooms) >= maxRooms && !ch.forgetEmptyRoomLocked() {
			return requestErrorf("too many rooms; join an existing one")
		}
		r = &room{members: make(map[string]*session)}
		ch.rooms[roomName] = r
	}
	if other := r.members[name]; other != nil && other != s {
		return requestErrorf("name %q is taken in %q", name, roomName)
	}
	if len(r.members) >= maxMembers && r.members[name] == nil {
		return requestErrorf("room %q is full", roomName)
	}
	ch.leaveLocked(s)
	if !ch.hub.Join(roomName, s.c) {
		return errors.New("connection closed")
	}
	s.name, s.room = name, roomName
	r.members[name] = s
	r.used = time.Now()
	// Under the lock, nothing is said in the room between the history
	// this client is sent and the live messages it now receives.
	ch.sendTo(s, typeJoined, joined{Room: roomName, Name: name, Members: r.names(), History: append(make([]chatMessage, 0, len(r.history)), r.history...)})
	ch.announceLocked(r, presence{Room: roomName, Name: name, Event: "join", Members: r.names()})
	return nil
}

// say sends text to s's room and keeps it in the room's history.
func (ch *chat) say(s *session, text string) error {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return requestErrorf("text is required")
	case utf8.RuneCountInString(text) > maxTextLen:
		return requestErrorf("text longer than %d characters", maxTextLen)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r := ch.rooms[s.room]
	if s.room == "" || r == nil {
		return requestErrorf("join a room first")
	}
	m := chatMessage{Name: s.name, Text: text, Time: time.Now().UTC().Truncate(time.Millisecond)}
	if len(r.history) == historyLen {
		copy(r.history, r.history[1:])
		r.history = r.history[:historyLen-1]
	}
	r.history = append(r.history, m)
	r.count++
	r.used = m.Time
	ch.broadcastLocked(s.room, typeMessage, s.name, m)
	ch.publishLocked("messages", messageCount{Room: s.room, Count: r.count})
	return nil
}

// leave takes s out of its room and reports whether it was in one.
func (ch *chat) leave(s *session) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if s.room == "" {
		return false
	}
	room := s.room
	ch.leaveLocked(s)
	ch.sendTo(s, typeLeft, map[string]string{"room": room})
	return true
}

// disconnect takes s, whose connection ended, out of its room.
func (ch *chat) disconnect(s *session) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.leaveLocked(s)
}

// leaveLocked takes s out of its room, if any, and tells the room; ch.mu
// is held.
func (ch *chat) leaveLocked(s *session) {
	if s.room == "" {
		return
	}
	r := ch.rooms[s.room]
	delete(r.members, s.name)
	ch.hub.Leave(s.room, s.c)
	ch.announceLocked(r, presence{Room: s.room, Name: s.name, Event: "leave", Members: r.names()})
	s.room, s.name = "", ""
}

// forgetEmptyRoomLocked forgets the empty room used longest ago and
// reports whether there was one; ch.mu is held.
func (ch *chat) forgetEmptyRoomLocked() bool {
	oldest := ""
	for name, r := range ch.rooms {
		if len(r.members) == 0 && (oldest == "" || r.used.Before(ch.rooms[oldest].used)) {
			oldest = name
		}
	}
	if oldest == "" {
		return false
	}
	delete(ch.rooms, oldest)
	return true
}

// announceLocked tells a room and the activity feed who came or went.
func (ch *chat) announceLocked(r *room, p presence) {
	ch.broadcastLocked(p.Room, typePresence, "", p)
	ch.publishLocked(p.Event, p)
}

// broadcastLocked sends a message to the members of room. A member too
// slow to take it loses its oldest queued messages (the hub's DropOldest
// policy); the hub counts them.
func (ch *chat) broadcastLocked(room, typ, sender string, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err) // the payload types always marshal
	}
	ch.hub.BroadcastMessageTo(room, stream.WSMessage{Type: typ, Payload: b, SenderID: sender})
}

// sendTo sends a message to s alone, after whatever is queued for it.
func (ch *chat) sendTo(s *session, typ string, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err) // the payload types always marshal
	}
	ch.hub.SendMessageTo(s.id, stream.WSMessage{Type: typ, Payload: b})
}

// publishLocked publishes an event on the activity feed. Feeds may not
// block publishers (BlockTimeout < 0), so this never waits.
func (ch *chat) publishLocked(name string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // the data types always marshal
	}
	ch.feed.Publish(stream.Event{Type: stream.Custom, Name: name, Data: string(b)})
}

// names returns the room's members' names, sorted.
func (r *room) names() []string {
	names := make([]string, 0, len(r.members))
	for name := range r.members {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
