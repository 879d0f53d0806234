package stream

import (
	"errors"
	"strconv"
)

// MessageType is the kind of a WebSocket data message.
type MessageType int

// Message types, numbered as their RFC 6455 opcodes.
const (
	TextMessage   MessageType = 1 // UTF-8 text
	BinaryMessage MessageType = 2 // arbitrary bytes
)

// String returns "text", "binary" or the number.
func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// StatusCode is a WebSocket close status code (RFC 6455 §7.4).
type StatusCode int

// Status codes of RFC 6455 §7.4.1 and the IANA registry. Codes 1005, 1006
// and 1015 are never sent on the wire; they describe how a connection
// ended.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusReceived        StatusCode = 1005
	StatusAbnormalClosure         StatusCode = 1006
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015
)

// String returns the code's name, for example "1000 normal closure".
func (s StatusCode) String() string {
	name := ""
	switch s {
	case StatusNormalClosure:
		name = "normal closure"
	case StatusGoingAway:
		name = "going away"
	case StatusProtocolError:
		name = "protocol error"
	case StatusUnsupportedData:
		name = "unsupported data"
	case StatusNoStatusReceived:
		name = "no status received"
	case StatusAbnormalClosure:
		name = "abnormal closure"
	case StatusInvalidFramePayloadData:
		name = "invalid frame payload data"
	case StatusPolicyViolation:
		name = "policy violation"
	case StatusMessageTooBig:
		name = "message too big"
	case StatusMandatoryExtension:
		name = "mandatory extension"
	case StatusInternalError:
		name = "internal error"
	case StatusServiceRestart:
		name = "service restart"
	case StatusTryAgainLater:
		name = "try again later"
	case StatusBadGateway:
		name = "bad gateway"
	case StatusTLSHandshake:
		name = "TLS handshake"
	}
	if name == "" {
		return strconv.Itoa(int(s))
	}
	return strconv.Itoa(int(s)) + " " + name
}

// validWireStatus reports whether s may appear in a Close frame. RFC 6455
// §7.4.1 reserves 1004, 1005, 1006 and 1015 ("MUST NOT be set as a status
// code in a Close control frame by an endpoint"), §7.4.2 leaves 0–999
// unused and 1016–2999 to the standard, and 5000 and above are undefined.
func validWireStatus(s StatusCode) bool {
	switch {
	case s >= 1000 && s <= 1003:
		return true
	case s >= 1007 && s <= 1014:
		return true
	case s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// CloseError reports how a WebSocket connection ended: the status code
// and reason of the Close frame the peer sent (Remote true), or the ones
// this side sent when it closed or failed the connection (Remote false).
// StatusAbnormalClosure means no Close frame was exchanged. It wraps
// ErrClosed and, when there is one, the underlying cause.
type CloseError struct {
	Code   StatusCode
	Reason string
	Remote bool
	Err    error // underlying cause, if any
}

func (e *CloseError) Error() string {
	s := "stream: websocket: "
	if e.Remote {
		s += "closed by peer: "
	} else {
		s += "connection closed: "
	}
	s += e.Code.String()
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrClosed and the cause, so errors.Is(err, ErrClosed)
// holds for every CloseError.
func (e *CloseError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrClosed, e.Err}
	}
	return []error{ErrClosed}
}

// CloseStatus returns the close status carried by err: the code of a
// *CloseError anywhere in its chain, or -1 if err is not about a closed
// WebSocket connection.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}
