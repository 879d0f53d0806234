package stream

import "errors"

// ErrClosed is returned by writes and reads on a stream or connection that
// has been closed, by either side. Errors that carry more detail wrap it,
// so test with errors.Is.
var ErrClosed = errors.New("stream: connection closed")
