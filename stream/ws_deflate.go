package stream

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

// This file holds the permessage-deflate codec of RFC 7692: compressing
// messages as they are written, inflating them as they are read, and the
// pools that let connections without context takeover share flate state.

// CompressionMode selects whether a connection offers or accepts the
// permessage-deflate extension (RFC 7692) and whether the compression
// context is kept from one message to the next.
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts compression.
	CompressionDisabled CompressionMode = iota
	// CompressionNoContextTakeover compresses every message on its own:
	// the server asks for server_no_context_takeover and
	// client_no_context_takeover, and a client offers both. Flate state
	// is borrowed from process-wide pools for the length of one message,
	// so an idle connection holds no compression memory (measured: about
	// 130 bytes more per connection than without compression). This is
	// the mode to use for many connections.
	CompressionNoContextTakeover
	// CompressionContextTakeover lets both sides keep their sliding
	// window between messages, which compresses small, similar messages
	// (chat, JSON updates) better, unless the peer asks otherwise. It
	// costs memory for the whole life of the connection, taken at its
	// first compressed message in each direction: the compressor
	// (compress/flate allocates its hash tables whatever the level) and
	// the inflater with a 32 KiB dictionary. Measured per connection
	// after one message each way: about 0.9 MiB at level 6 (the default
	// in this mode) and 1.3 MiB at flate.BestSpeed. A server with N such
	// connections needs about N × 1 MiB; bound it by bounding the
	// number of connections (for example with a Tracker) or use
	// CompressionNoContextTakeover. On a JSON workload of 100–250 byte
	// messages, level 6 with context takeover sends 4.7 times fewer
	// bytes than without compression, against 1.2 times without
	// context takeover.
	CompressionContextTakeover
)

// Defaults for the compression fields of WSConfig and DialConfig.
const (
	// DefaultCompressionThreshold is the payload size, in bytes, below
	// which messages are sent uncompressed when CompressionThreshold is
	// 0: smaller messages gain little and cost a flate pass.
	DefaultCompressionThreshold = 128
	// DefaultCompressionLevel is the flate level used without context
	// takeover when CompressionLevel is 0: flate.BestSpeed, whose writer
	// resets in constant time, unlike the higher levels, which clear
	// 640 KiB of hash tables each time a pooled writer is reused.
	DefaultCompressionLevel = flate.BestSpeed
	// DefaultContextTakeoverLevel is the flate level used with context
	// takeover when CompressionLevel is 0: flate.DefaultCompression (6).
	// It applies to the direction in which this side keeps its context;
	// when the peer asks for server_no_context_takeover (or, of a
	// client, client_no_context_takeover), that direction uses
	// DefaultCompressionLevel.
	// flate.BestSpeed hardly finds matches in earlier messages, so small
	// messages would gain nothing from the context they pay for.
	DefaultContextTakeoverLevel = flate.DefaultCompression
)

// deflateConfig is the resolved compression configuration.
type deflateConfig struct {
	mode      CompressionMode
	threshold int
	level     int
	// defaultLevel says that level was not configured; it then
	// depends on whether this side ends up keeping its context.
	defaultLevel bool
}

// resolveDeflate checks and defaults the compression fields. The error
// is a reason for a HandshakeError.
func resolveDeflate(mode CompressionMode, threshold, level int) (deflateConfig, error) {
	d := deflateConfig{mode: mode, threshold: threshold, level: level}
	switch mode {
	case CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover:
	default:
		return d, errors.New("unknown Compression mode " + strconv.Itoa(int(mode)))
	}
	switch {
	case d.threshold == 0:
		d.threshold = DefaultCompressionThreshold
	case d.threshold < 0:
		d.threshold = 0
	}
	switch {
	case d.level == 0 && mode == CompressionContextTakeover:
		d.level, d.defaultLevel = DefaultContextTakeoverLevel, true
	case d.level == 0:
		d.level, d.defaultLevel = DefaultCompressionLevel, true
	case d.level < flate.HuffmanOnly || d.level > flate.BestCompression:
		return d, errors.New("CompressionLevel must be a compress/flate level from -2 to 9")
	}
	return d, nil
}

func (c WSConfig) deflateConfig() (deflateConfig, error) {
	return resolveDeflate(c.Compression, c.CompressionThreshold, c.CompressionLevel)
}

func (c DialConfig) deflateConfig() (deflateConfig, error) {
	return resolveDeflate(c.Compression, c.CompressionThreshold, c.CompressionLevel)
}

// rsv1 is the RSV1 bit as wsframe.Header.Rsv holds it; RFC 7692 §6 calls
// it the "Per-Message Compressed" bit.
const rsv1 = 4

// deflateTail is what RFC 7692 §7.2.1 strips from every compressed
// message: the end of the empty stored block a sync flush writes.
var deflateTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// inflateTrailer is appended to every compressed payload while reading:
// first the tail of §7.2.2 ("Append 4 octets of 0x00 0x00 0xff 0xff to the
// tail end of the payload of the message"), then an empty final block
// with fixed codes (BFINAL=1, BTYPE=01, end-of-block), so that a message
// which ends on a block boundary makes the decompressor report io.EOF,
// while one cut off inside a block mostly makes it report an error. Like
// any DEFLATE decoder, it cannot tell every damaged stream from a valid
// one: some decode, to other bytes, and are then held to ReadLimit and,
// for text, to UTF-8 validity like any message.
var inflateTrailer = [6]byte{0x00, 0x00, 0xff, 0xff, 0x03, 0x00}

// enableDeflate switches on compression after a handshake agreed on it.
func (c *WebSocketConn) enableDeflate(cfg deflateConfig, a deflateAgreement) {
	writeFresh, readFresh := a.serverNoContext, a.clientNoContext
	if c.client {
		writeFresh, readFresh = a.clientNoContext, a.serverNoContext
	}
	level := cfg.level
	if cfg.defaultLevel && writeFresh {
		// The peer asked this side not to keep its context (gorilla
		// always does): every message is compressed afresh, which is
		// what DefaultCompressionLevel is for, whatever the mode.
		level = DefaultCompressionLevel
	}
	c.defl = &wsDeflater{level: level, threshold: cfg.threshold, fresh: writeFresh}
	c.infl = &wsInflater{fresh: readFresh}
	c.infl.src.c = c
}

// ---- Writing ----

// deflateCodec is a flate writer together with the buffer it writes to.
type deflateCodec struct {
	fw   *flate.Writer
	sink byteSink
}

// byteSink collects a writer's output.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// The largest output buffers kept for reuse: by a pooled codec, which a
// few serve every connection, so that messages of up to a few hundred
// kilobytes compress without allocating; and by a connection's own codec
// (context takeover), which it keeps while idle.
const (
	maxPooledSink = 256 << 10
	maxOwnSink    = 128 << 10
)

// deflatePools hold codecs for compression without context takeover, one
// pool per level (index level - flate.HuffmanOnly).
var deflatePools [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// newDeflateCodec makes a codec; level has been checked.
func newDeflateCodec(level int) *deflateCodec {
	z := &deflateCodec{}
	z.fw, _ = flate.NewWriter(&z.sink, level)
	return z
}

// getDeflateCodec takes a codec with a fresh context from the pool.
func getDeflateCodec(level int) *deflateCodec {
	if v := deflatePools[level-flate.HuffmanOnly].Get(); v != nil {
		z := v.(*deflateCodec)
		z.fw.Reset(&z.sink)
		return z
	}
	return newDeflateCodec(level)
}

func putDeflateCodec(level int, z *deflateCodec) {
	z.trim(maxPooledSink)
	deflatePools[level-flate.HuffmanOnly].Put(z)
}

// trim empties the output buffer, dropping it when it grew past limit.
func (z *deflateCodec) trim(limit int) {
	if cap(z.sink.b) > limit {
		z.sink.b = nil
	}
	z.sink.b = z.sink.b[:0]
}

// finish sync-flushes the message and returns its compressed form with
// the tail removed, as RFC 7692 §7.2.1 says: "Compress all the octets of
// the payload of the message using DEFLATE. If the resulting data does
// not end with an empty DEFLATE block with no compression ..., append an
// empty DEFLATE block with no compression to the tail end. Remove 4
// octets (that are 0x00 0x00 0xff 0xff) from the tail end." A flate sync
// flush always ends with that empty block; the check guards it.
func (z *deflateCodec) finish() ([]byte, error) {
	if err := z.fw.Flush(); err != nil {
		return nil, err
	}
	b := z.sink.b
	if !bytes.HasSuffix(b, deflateTail[:]) {
		return nil, errors.New("stream: websocket write: compressor did not end with a sync flush")
	}
	return b[:len(b)-len(deflateTail)], nil
}

// wsDeflater is the writing half of permessage-deflate, guarded by the
// connection's msgMu.
type wsDeflater struct {
	level     int
	threshold int
	fresh     bool          // no context takeover: a pooled codec per message
	own       *deflateCodec // the connection's codec under context takeover
}

// acquire returns the codec for one message.
func (d *wsDeflater) acquire() *deflateCodec {
	if d.fresh {
		return getDeflateCodec(d.level)
	}
	if d.own == nil {
		d.own = newDeflateCodec(d.level)
	}
	return d.own
}

// release gives back what acquire returned.
func (d *wsDeflater) release(z *deflateCodec) {
	if d.fresh {
		putDeflateCodec(d.level, z)
		return
	}
	z.trim(maxOwnSink)
}

// writeMessageFrame sends p as one message, compressed when compression
// was negotiated and p is at least the threshold. The caller holds msgMu.
func (c *WebSocketConn) writeMessageFrame(op wsframe.Opcode, p []byte) error {
	d := c.defl
	if d == nil || len(p) < d.threshold {
		return c.writeFrame(op, true, p, nil)
	}
	z := d.acquire()
	defer d.release(z)
	z.fw.Write(p) // writes to a byteSink cannot fail
	out, err := z.finish()
	if err != nil {
		return err
	}
	// RFC 7692 §6: RSV1 set on the first (here the only) frame marks the
	// message as compressed.
	return c.writeFrameRsv(op, rsv1, true, out, nil)
}

// writeDeflate is messageWriter.Write on a connection with compression,
// once the buffer overflows: the buffered bytes and p go into the
// compressor, and its output goes out in fragments of about the buffer's
// size. The first fragment carries RSV1 (RFC 7692 §6.1: the bit is set on
// the first frame only).
func (m *messageWriter) writeDeflate(p []byte) (int, error) {
	c := m.c
	if m.z == nil {
		m.z = c.defl.acquire()
	}
	m.z.fw.Write(c.wbuf)
	m.z.fw.Write(p)
	m.n += int64(len(c.wbuf) + len(p))
	c.wbuf = c.wbuf[:0]
	if len(m.z.sink.b) >= cap(c.wbuf) {
		if err := m.writeFragment(false, m.z.sink.b); err != nil {
			return 0, err
		}
		m.z.sink.b = m.z.sink.b[:0]
	}
	return len(p), nil
}

// writeFragment sends compressed bytes as the next fragment.
func (m *messageWriter) writeFragment(fin bool, p []byte) error {
	var rsv byte
	if m.op != wsframe.OpContinuation {
		rsv = rsv1
	}
	if err := m.c.writeFrameRsv(m.op, rsv, fin, p, nil); err != nil {
		m.err = err
		return err
	}
	m.op = wsframe.OpContinuation
	return nil
}

// closeDeflate is messageWriter.Close on a connection with compression.
// A message that never outgrew the buffer is sent whole, compressed when
// it reaches the threshold.
func (m *messageWriter) closeDeflate() error {
	c := m.c
	if m.z == nil {
		if err := c.writeMessageFrame(m.op, c.wbuf); err != nil {
			return err
		}
		m.n = int64(len(c.wbuf))
		return nil
	}
	z := m.z
	m.z = nil
	defer c.defl.release(z)
	z.fw.Write(c.wbuf)
	m.n += int64(len(c.wbuf))
	out, err := z.finish()
	if err != nil {
		return err
	}
	return m.writeFragment(true, out)
}

// appendCompressedServerFrame appends to dst a complete unmasked,
// unfragmented data frame with RSV1 set whose payload is payload
// compressed on its own (an empty sliding window) at level, as RFC 7692
// §7.2.1 describes. level must be a valid compress/flate level.
//
// It is the hook for broadcasting: a message compressed once this way can
// be written with writeFrames to every server connection whose
// broadcastDeflate reports ok with the same level, because the peers of
// such connections expect a fresh context with every message. Sending it
// to a connection with context takeover would desynchronise the
// connection's own compressor from its peer's window, so those
// connections must compress for themselves.
func appendCompressedServerFrame(dst []byte, mt MessageType, payload []byte, level int) ([]byte, error) {
	z := getDeflateCodec(level)
	defer putDeflateCodec(level, z)
	z.fw.Write(payload)
	out, err := z.finish()
	if err != nil {
		return dst, err
	}
	dst = wsframe.AppendHeader(dst, wsframe.Header{Fin: true, Rsv: rsv1, Opcode: wsframe.Opcode(mt), Length: int64(len(out))})
	return append(dst, out...), nil
}

// broadcastDeflate reports whether c is a server connection that accepts
// frames from appendCompressedServerFrame, and with which level and
// threshold (messages shorter than threshold go uncompressed). Safe from
// any goroutine: the values are fixed at the handshake.
func (c *WebSocketConn) broadcastDeflate() (level, threshold int, ok bool) {
	if c.client || c.defl == nil || !c.defl.fresh {
		return 0, 0, false
	}
	return c.defl.level, c.defl.threshold, true
}

// ---- Reading ----

// wsInflater is the reading half of permessage-deflate, guarded by the
// connection's readMu.
type wsInflater struct {
	fresh bool          // the peer compresses every message afresh
	fr    io.ReadCloser // decompressor of the current message, or the connection's under context takeover
	busy  bool          // fr is reading the current message
	dict  []byte        // under context takeover: the latest output, at most 2 windows
	out   int64         // bytes of the current message inflated so far
	probe [1]byte
	src   inflateSource
}

// window is the DEFLATE sliding window (RFC 1951), the most a message may
// refer back to.
const window = 32 << 10

// inflaterPool holds decompressors for peers without context takeover.
var inflaterPool sync.Pool

// emptySource parks pooled decompressors without holding a connection.
var emptySource = bytes.NewReader(nil)

// compressedFrameAllowed reports whether a frame with reserved bits set
// is the first frame of a compressed message. RFC 7692 §6.1: "An endpoint
// MUST NOT set the "Per-Message Compressed" bit of control frames and
// non-first fragments of a data message. An endpoint receiving such a
// frame MUST _Fail the WebSocket Connection_." Without the extension,
// RFC 6455 §5.2 fails every frame with a reserved bit.
func (c *WebSocketConn) compressedFrameAllowed(h wsframe.Header) bool {
	return c.infl != nil && h.Rsv == rsv1 && (h.Opcode == wsframe.OpText || h.Opcode == wsframe.OpBinary)
}

// compressedWireLimit is how many payload bytes a compressed message may
// take on the wire: ReadLimit, which bounds its inflated size, plus room
// for DEFLATE's overhead on incompressible data (a few bytes per block).
func (c *WebSocketConn) compressedWireLimit() int64 {
	l := c.set.readLimit
	return l + l/8 + 1024
}

// inflateSource feeds the decompressor the payload of the current
// message across its frames, handling control frames between them, then
// inflateTrailer, then io.EOF. The decompressor reads byte by byte, so the
// payload is read ahead, unmasked, in chunks of up to inflateChunk bytes
// (never past the current frame) and served from there; the chunk buffer
// is held only while a message is inflated.
type inflateSource struct {
	c        *WebSocketConn
	trailer  bool // inflateTrailer was queued
	pos, end int  // unread bytes: buf[pos:end]
	buf      *[inflateChunk]byte
}

// inflateChunk is how much of a frame's payload inflateSource reads ahead.
const inflateChunk = 512

var inflateChunks = sync.Pool{New: func() any { return new([inflateChunk]byte) }}

// start readies s for a new message.
func (s *inflateSource) start() {
	s.trailer = false
	s.pos, s.end = 0, 0
	if s.buf == nil {
		s.buf = inflateChunks.Get().(*[inflateChunk]byte)
	}
}

// stop gives the chunk buffer back after a message.
func (s *inflateSource) stop() {
	if s.buf != nil {
		inflateChunks.Put(s.buf)
		s.buf = nil
	}
	s.pos, s.end = 0, 0
}

// fill reads the next piece of the message into buf: payload, then the
// trailer; io.EOF after that. buf is empty.
func (s *inflateSource) fill() error {
	c := s.c
	for c.rRemain == 0 {
		if c.rFin {
			if s.trailer {
				return io.EOF
			}
			s.trailer = true
			s.pos, s.end = 0, copy(s.buf[:], inflateTrailer[:])
			return nil
		}
		if err := c.nextDataFrame(); err != nil {
			return err
		}
	}
	n, err := c.readPayload(s.buf[:])
	s.pos, s.end = 0, n
	if n > 0 {
		return nil // an error comes back on the next read
	}
	return err
}

func (s *inflateSource) ReadByte() (byte, error) {
	if s.pos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

func (s *inflateSource) Read(p []byte) (int, error) {
	if s.pos == s.end {
		// A large read (a stored block) goes straight to p.
		if c := s.c; len(p) >= len(s.buf) && c.rRemain > 0 {
			return c.readPayload(p)
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos:s.end])
	s.pos += n
	return n, nil
}

// startInflate readies the decompressor for a new compressed message.
func (z *wsInflater) startInflate() {
	z.src.start()
	z.out = 0
	z.busy = true
	if z.fresh {
		if v := inflaterPool.Get(); v != nil {
			z.fr = v.(io.ReadCloser)
			z.fr.(flate.Resetter).Reset(&z.src, nil)
		} else {
			z.fr = flate.NewReader(&z.src)
		}
		return
	}
	// Context takeover: the message may refer back into the previous
	// messages' output, kept in dict.
	var dict []byte
	if len(z.dict) > 0 {
		dict = z.dict[max(0, len(z.dict)-window):]
	}
	if z.fr == nil {
		z.fr = flate.NewReaderDict(&z.src, dict)
	} else {
		z.fr.(flate.Resetter).Reset(&z.src, dict)
	}
}

// endInflate releases the decompressor after a message.
func (z *wsInflater) endInflate() {
	if !z.busy {
		return
	}
	z.busy = false
	z.src.stop()
	if z.fresh {
		z.fr.(flate.Resetter).Reset(emptySource, nil)
		inflaterPool.Put(z.fr)
		z.fr = nil
	}
}

// remember appends inflated bytes to the dictionary under context
// takeover, keeping at most the last window's worth once it is full.
func (z *wsInflater) remember(b []byte) {
	if z.fresh {
		return
	}
	if len(b) >= window {
		z.dict = append(z.dict[:0], b[len(b)-window:]...)
		return
	}
	if z.dict == nil {
		z.dict = make([]byte, 0, 2*window)
	}
	if len(z.dict)+len(b) > cap(z.dict) {
		n := copy(z.dict, z.dict[len(z.dict)-window:])
		z.dict = z.dict[:n]
	}
	z.dict = append(z.dict, b...)
}

// readCompressed inflates payload of the current compressed message into
// p. At the end of the message it finishes it and returns io.EOF. The
// inflated size is held to ReadLimit: one byte more, read into a scratch
// byte, fails the connection with 1009, so no more than ReadLimit bytes
// of output are ever produced for the caller. Data that does not inflate
// fails it with 1007. The reader holds readMu.
func (c *WebSocketConn) readCompressed(p []byte) (int, error) {
	z := c.infl
	if !z.busy {
		z.startInflate()
	}
	allowed := c.set.readLimit - z.out
	if allowed <= 0 {
		p = z.probe[:]
	} else if int64(len(p)) > allowed {
		p = p[:allowed]
	}
	n, err := z.fr.Read(p)
	if n > 0 {
		if allowed <= 0 {
			return 0, c.fail(StatusMessageTooBig, "message exceeds the read limit once inflated")
		}
		z.out += int64(n)
		z.remember(p[:n])
		// RFC 6455 §8.1 applies to the inflated text.
		if c.rOp == TextMessage && !c.utf8.Write(p[:n]) {
			return n, c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
		}
	}
	switch {
	case err == nil:
		return n, nil
	case c.readErr != nil:
		// The connection failed or closed while the source was read.
		return n, c.readErr
	case err != io.EOF:
		// RFC 6455 §7.1.7 leaves the code open; 1007 is the status for
		// "data within a message that was not consistent with the type
		// of the message".
		return n, c.fail(StatusInvalidFramePayloadData, "invalid compressed data")
	}
	// End of the DEFLATE stream. A peer that ended its data with a final
	// block (RFC 7692 §7.2.3.4) leaves the appended tail unread; the
	// rest of the message's frames are consumed so the next one lines up.
	for c.rRemain > 0 || !c.rFin {
		if _, err := z.src.Read(c.ctrl[:]); err != nil {
			return n, err
		}
	}
	if err := c.endMessage(); err != nil {
		return n, err
	}
	return n, io.EOF
}

// readCompressedMessage inflates the whole current message. The buffer
// grows with the output, never past ReadLimit.
func (c *WebSocketConn) readCompressedMessage(dst []byte) ([]byte, error) {
	if dst != nil {
		return c.inflateAppend(dst)
	}
	// The inflated size is unknown until the end: inflate into a pooled
	// scratch buffer and allocate the result once, at its size.
	sp := inflateScratch.Get().(*[]byte)
	buf, err := c.inflateAppend((*sp)[:0])
	var out []byte
	if err == nil {
		out = append([]byte{}, buf...)
	}
	if cap(buf) <= maxInflateScratch {
		*sp = buf[:0]
		inflateScratch.Put(sp)
	}
	return out, err
}

// inflateScratch holds buffers that compressed messages are inflated
// into before ReadMessage copies them out.
var inflateScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxInflateScratch bounds the scratch buffers kept in inflateScratch.
const maxInflateScratch = 256 << 10

// inflateAppend inflates the rest of the current message and appends it
// to dst.
func (c *WebSocketConn) inflateAppend(dst []byte) ([]byte, error) {
	limit := c.set.readLimit + int64(len(dst))
	buf := dst
	if room := int64(cap(buf) - len(buf)); room < 512 {
		buf = slices.Grow(buf, int(min(limit-int64(len(buf)), max(512, 4*c.rRemain))))
	}
	for {
		if len(buf) == cap(buf) && int64(cap(buf)) < limit {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit-int64(cap(buf)))))
		}
		n, err := c.readCompressed(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// finishCompressed records the end of a compressed message: the byte
// count in Stats is the inflated size.
func (c *WebSocketConn) finishCompressed() {
	if c.rZ {
		c.rMsgLen = c.infl.out
		c.infl.endInflate()
		c.rZ = false
	}
}

// discardCompressed inflates the rest of the current message and drops
// the output.
func (c *WebSocketConn) discardCompressed() error {
	for {
		_, err := c.readCompressed(c.ctrl[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
