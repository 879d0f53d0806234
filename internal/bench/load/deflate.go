package load

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// deflateTail is the end of a sync flush, which RFC 7692 section 7.2.1
// removes from every compressed message and section 7.2.2 puts back
// before inflating.
const deflateTail = "\x00\x00\xff\xff"

// inflateTail is deflateTail followed by an empty final stored block, so
// that the flate reader ends the message with io.EOF.
const inflateTail = deflateTail + "\x01\x00\x00\xff\xff"

// deflateMessage appends p compressed as one permessage-deflate message
// (flate.BestSpeed, no context carried over, tail removed) to dst.
func deflateMessage(dst, p []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed) // no error for a valid level
	fw.Write(p)                                   // bytes.Buffer writes do not fail
	fw.Flush()
	out := bytes.TrimSuffix(b.Bytes(), []byte(deflateTail))
	if len(out) == 0 {
		// An empty message compresses to a single 0x00 (RFC 7692
		// section 7.2.3.6).
		out = []byte{0}
	}
	return append(dst, out...)
}

// inflater decompresses messages with one flate reader, reset for each.
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser
	out []byte
}

// inflate returns the message compressed in p, which it may modify (the
// tail is appended to it in place when its capacity allows). The result is
// valid until the next call; it is an error if it exceeds limit bytes.
func (f *inflater) inflate(p []byte, limit int) ([]byte, error) {
	p = append(p, inflateTail...)
	f.src.Reset(p)
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, fmt.Errorf("load: inflate: %w", err)
	}
	out := f.out[:0]
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, fmt.Errorf("load: inflate: message over %d bytes", limit)
			}
			out = slices.Grow(out, max(512, len(out)))
		}
		n, err := f.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load: inflate: %w", err)
		}
	}
	f.out = out
	if len(out) > limit {
		return nil, fmt.Errorf("load: inflate: message over %d bytes", limit)
	}
	return out, nil
}

// checkDeflateResponse checks the Sec-WebSocket-Extensions values of a
// handshake response to DeflateOffer: exactly permessage-deflate, with
// server_no_context_takeover (the client inflates every message on its
// own) and only parameters RFC 7692 section 7.1 allows in a response to
// that offer.
func checkDeflateResponse(values []string) error {
	var exts []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				exts = append(exts, e)
			}
		}
	}
	if len(exts) != 1 {
		return fmt.Errorf("permessage-deflate not agreed: Sec-WebSocket-Extensions %q", values)
	}
	params := strings.Split(exts[0], ";")
	if !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
		return fmt.Errorf("permessage-deflate not agreed: Sec-WebSocket-Extensions %q", values)
	}
	serverNoTakeover := false
	for _, p := range params[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "server_no_context_takeover":
			serverNoTakeover = true
		case "client_no_context_takeover", "server_max_window_bits":
		default:
			return fmt.Errorf("permessage-deflate agreed with unexpected parameter %q", strings.TrimSpace(p))
		}
	}
	if !serverNoTakeover {
		return errors.New("permessage-deflate agreed without server_no_context_takeover")
	}
	return nil
}
