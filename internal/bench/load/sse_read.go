package load

import (
	"bufio"
	"bytes"
	"errors"
)

// sseState holds the data of the event being read.
type sseState struct {
	data []byte
	have bool
}

// readSSE returns the data of the next event. It understands what the
// servers send: "data:" lines, comments and other fields (ignored), events
// ended by a blank line; lines end with LF.
func (c *Conn) readSSE() ([]byte, error) {
	c.sse.data = c.sse.data[:0]
	c.sse.have = false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errors.New("load: read: event line too long")
			}
			return nil, err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 {
			if c.sse.have {
				return c.sse.data, nil
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte{' '})
			if c.sse.have {
				c.sse.data = append(c.sse.data, '\n')
			}
			c.sse.data = append(c.sse.data, v...)
			c.sse.have = true
		}
	}
}
