package stream

import (
	"encoding/json"
	"errors"
	"time"
)

// WSMessage is an optional JSON envelope for applications that want one:
// a message type of their choosing, a JSON payload, the sender's ID and
// a timestamp in milliseconds since the Unix epoch. Raw bytes remain the
// hub's primary path; these helpers encode a WSMessage once and send it
// as a text message whatever HubConfig.MessageType says.
type WSMessage struct {
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	SenderID string          `json:"sender_id,omitempty"`
	Ts       int64           `json:"ts"`
}

// ParseWSMessage decodes a WSMessage from a received message.
func ParseWSMessage(p []byte) (WSMessage, error) {
	var m WSMessage
	if err := json.Unmarshal(p, &m); err != nil {
		return WSMessage{}, errors.New("stream: parse message: " + err.Error())
	}
	return m, nil
}

// encode marshals m, setting Ts to the current time if it is zero.
func (m WSMessage) encode() ([]byte, error) {
	if m.Ts == 0 {
		m.Ts = time.Now().UnixMilli()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, errors.New("stream: encode message: " + err.Error())
	}
	// encoding/json refuses to nest deeper than 10000 levels. A payload
	// that reaches the limit is valid alone but not inside the envelope,
	// which no peer could then parse; a payload that short cannot.
	if len(m.Payload) >= jsonMaxDepth && !json.Valid(b) {
		return nil, errors.New("stream: encode message: payload nested too deep")
	}
	return b, nil
}

// jsonMaxDepth is encoding/json's nesting limit.
const jsonMaxDepth = 10000

// BroadcastMessage encodes m as JSON (Ts defaults to now) and queues it
// for every registered connection like Broadcast. It returns nil once it
// is queued for all of them, or why not: an encoding error (for example
// a Payload that is not valid JSON), ErrHubStopped, ErrHubDropped, or a
// message too large for the queues. Safe for concurrent use.
func (h *Hub) BroadcastMessage(m WSMessage) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	return h.send(sendAll, "", TextMessage, b, nil)
}

// BroadcastMessageTo is BroadcastMessage for the members of room.
func (h *Hub) BroadcastMessageTo(room string, m WSMessage) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	return h.send(sendRoom, room, TextMessage, b, nil)
}

// SendMessageTo is BroadcastMessage for the connections registered with
// the application ID id; it returns ErrHubNoRecipient if there are none.
func (h *Hub) SendMessageTo(id string, m WSMessage) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	return h.send(sendID, id, TextMessage, b, nil)
}
