package server

import "compress/flate"

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
	// DeflateLevel is the compress/flate level of /echo-deflate where the
	// library lets it be set.
	DeflateLevel = flate.BestSpeed
	// DeflateThreshold is the payload size, in bytes, below which
	// /echo-deflate sends messages uncompressed where the library lets it
	// be set.
	DeflateThreshold = 128
)
