package server

// Settings every implementation uses where its library lets them be set, so
// that no library is measured with larger buffers or queues than another.
const (
	// BufferSize is the read and write buffer size per connection.
	BufferSize = 4096
	// MaxMessage is the largest message a server accepts.
	MaxMessage = 1 << 20
	// SendQueue is the number of broadcast messages queued per subscriber
	// before the subscriber is considered too slow and dropped.
	SendQueue = 256
)
