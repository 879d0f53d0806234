package stream

import (
	"encoding/binary"
	"errors"
	"time"
)

// The messages Hub and SSEBroker put on a relay are envelopes:
//
//	version (1)  kind (1)  origin (16)  uvarint seq
//	hub kinds:   message type (1)  uvarint len(key)  key  payload
//	event kind:  event type (1)  uvarint retry (ms)  uvarint len(name)  name
//	             uvarint len(id)  id  data
//
// origin is the random ID of the sending instance and seq numbers its
// messages on that topic from 1, so that receivers can drop their own
// messages and duplicates and count the ones they missed.

const relayVersion = 1

// relayKind says what an envelope carries.
type relayKind byte

const (
	relayKindAll   relayKind = 1 // Hub.Broadcast
	relayKindRoom  relayKind = 2 // Hub.BroadcastTo
	relayKindID    relayKind = 3 // Hub.SendTo
	relayKindEvent relayKind = 4 // SSEBroker.Publish
)

var errRelayEnvelope = errors.New("stream: relay: malformed message")

// relayEnvelope is a decoded envelope. Its slices point into the message.
type relayEnvelope struct {
	kind    relayKind
	origin  relayOrigin
	seq     uint64
	mt      MessageType
	key     []byte
	payload []byte
	event   Event
}

func appendRelayHeader(dst []byte, kind relayKind, origin relayOrigin, seq uint64) []byte {
	dst = append(dst, relayVersion, byte(kind))
	dst = append(dst, origin[:]...)
	return binary.AppendUvarint(dst, seq)
}

// appendRelayHub appends the envelope of a hub message.
func appendRelayHub(dst []byte, origin relayOrigin, seq uint64, kind relayKind, mt MessageType, key string, msg []byte) []byte {
	dst = appendRelayHeader(dst, kind, origin, seq)
	dst = append(dst, byte(mt))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, msg...)
}

// appendRelayEvent appends the envelope of an SSE event.
func appendRelayEvent(dst []byte, origin relayOrigin, seq uint64, e Event) []byte {
	dst = appendRelayHeader(dst, relayKindEvent, origin, seq)
	dst = append(dst, byte(e.Type))
	var retry uint64
	if e.Retry > 0 {
		retry = uint64(max(e.Retry/time.Millisecond, 1))
	}
	dst = binary.AppendUvarint(dst, retry)
	dst = binary.AppendUvarint(dst, uint64(len(e.Name)))
	dst = append(dst, e.Name...)
	dst = binary.AppendUvarint(dst, uint64(len(e.ID)))
	dst = append(dst, e.ID...)
	return append(dst, e.Data...)
}

// decodeRelayEnvelope decodes msg; the result's slices share its memory.
func decodeRelayEnvelope(msg []byte) (relayEnvelope, error) {
	var env relayEnvelope
	if len(msg) < 2+len(env.origin) || msg[0] != relayVersion {
		return env, errRelayEnvelope
	}
	env.kind = relayKind(msg[1])
	copy(env.origin[:], msg[2:])
	rest := msg[2+len(env.origin):]
	seq, n := binary.Uvarint(rest)
	if n <= 0 || seq == 0 {
		return env, errRelayEnvelope
	}
	env.seq, rest = seq, rest[n:]
	bytesField := func() ([]byte, bool) {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return nil, false
		}
		f := rest[n : n+int(l)]
		rest = rest[n+int(l):]
		return f, true
	}
	switch env.kind {
	case relayKindAll, relayKindRoom, relayKindID:
		if len(rest) < 1 {
			return env, errRelayEnvelope
		}
		env.mt, rest = MessageType(rest[0]), rest[1:]
		if env.mt != TextMessage && env.mt != BinaryMessage {
			return env, errRelayEnvelope
		}
		key, ok := bytesField()
		if !ok {
			return env, errRelayEnvelope
		}
		env.key, env.payload = key, rest
	case relayKindEvent:
		if len(rest) < 1 {
			return env, errRelayEnvelope
		}
		env.event.Type, rest = EventType(rest[0]), rest[1:]
		if env.event.Type > Custom {
			return env, errRelayEnvelope
		}
		retry, n := binary.Uvarint(rest)
		if n <= 0 || retry > uint64(1<<62)/uint64(time.Millisecond) {
			return env, errRelayEnvelope
		}
		env.event.Retry, rest = time.Duration(retry)*time.Millisecond, rest[n:]
		name, ok := bytesField()
		if !ok {
			return env, errRelayEnvelope
		}
		id, ok := bytesField()
		if !ok {
			return env, errRelayEnvelope
		}
		env.event.Name, env.event.ID, env.event.Data = string(name), string(id), string(rest)
	default:
		return env, errRelayEnvelope
	}
	return env, nil
}
