package websocket

import (
	"bytes"
	"context"
	"sync"
)

// PreparedMessage is a message encoded once and sent to many connections,
// for broadcast. The frame (and its compressed form, per window size and
// level in use) is built on first use and reused by every later send; a
// server sends it with a single write and no copy of the payload.
//
// The exception is a connection that compresses with context takeover in
// its sending direction (CompressionContextTakeover, accepted by the
// peer): each of its compressed messages refers to the ones before, so
// WritePrepared compresses the message with that connection's own
// compressor, at the cost of Write (a message made by
// NewPreparedMessageUncompressed is never compressed, so never is).
//
// A PreparedMessage is safe for concurrent use.
type PreparedMessage struct {
	typ          MessageType
	data         []byte
	uncompressed bool // NewPreparedMessageUncompressed's: never compressed

	mu     sync.Mutex
	frames map[int][]byte // server frames by preparedKey (0: uncompressed)
	bodies map[int][]byte // compressed payloads by preparedKey, for clients
}

// NewPreparedMessage prepares data as a message of type typ. It keeps a
// copy of data, which the caller may modify or reuse as soon as it returns
// (a Poller's OnMessage buffer, for one).
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	return &PreparedMessage{typ: typ, data: bytes.Clone(data)}, nil
}

// NewPreparedMessageUncompressed prepares data as a message of type typ
// that WritePrepared and Group.Broadcast send uncompressed to every
// connection, whatever it negotiated, as WriteUncompressed does: for a
// message that mixes secrets with data an attacker may choose (CRIME,
// BREACH), or whose bytes are already compressed (an image, a gzip
// stream), which deflating per window size would only cost CPU. It keeps
// a copy of data, as NewPreparedMessage does.
func NewPreparedMessageUncompressed(typ MessageType, data []byte) (*PreparedMessage, error) {
	pm, err := NewPreparedMessage(typ, data)
	if err != nil {
		return nil, err
	}
	pm.uncompressed = true
	return pm, nil
}

// payload returns the message body for key (0: uncompressed).
func (pm *PreparedMessage) payload(key int) []byte {
	if key == 0 {
		return pm.data
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if b, ok := pm.bodies[key]; ok {
		return b
	}
	// A fresh compressor without history is valid for any peer, whatever
	// its context takeover.
	d := &deflate{level: int8(key >> 4), sendWindowBits: int8(key & 15)}
	var b []byte
	d.appendCompressed(&b, pm.data)
	if pm.bodies == nil {
		pm.bodies = make(map[int][]byte)
	}
	pm.bodies[key] = b
	return b
}

// serverFrame returns the whole unmasked frame for key (0: uncompressed).
func (pm *PreparedMessage) serverFrame(key int) []byte {
	body := pm.payload(key)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if f, ok := pm.frames[key]; ok {
		return f
	}
	h := header{Fin: true, Op: opcode(pm.typ), Length: int64(len(body))}
	if key != 0 {
		h.Rsv = bitRsv1
	}
	f := make([]byte, maxHeaderSize+len(body))
	n := putHeader(f, h)
	f = append(f[:n], body...)
	if pm.frames == nil {
		pm.frames = make(map[int][]byte)
	}
	pm.frames[key] = f
	return f
}

// preparedKey tells apart the standalone compressed copies of an n-byte
// message this connection may take: level<<4 | window bits, or 0 to send
// it uncompressed.
func (d *deflate) preparedKey(n int) int {
	if d == nil || !d.shouldCompress(n) {
		return 0
	}
	return int(d.level)<<4 | int(d.sendWindowBits)
}

// WritePrepared sends a prepared message, as Write would send its data.
//
// Under context takeover in the sending direction the message is
// compressed for this connection alone, in order with its other messages,
// exactly as Write does: a copy compressed without the connection's
// history would leave the peer's window out of step, and the next message
// would decode to the wrong bytes.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if err := c.ctxEnded(ctx); err != nil {
		return err
	}
	return c.writePrepared(ctx, pm)
}

// writePrepared is WritePrepared once ctx was seen live (see write).
func (c *Conn) writePrepared(ctx context.Context, pm *PreparedMessage) error {
	if d := c.deflate; d != nil && d.sendTakeover && !pm.uncompressed {
		return c.write(ctx, pm.typ, pm.data)
	}
	if err := c.lockMessageFrame(ctx); err != nil {
		return err
	}
	defer c.unlockMessageFrame()
	key := 0
	if !pm.uncompressed {
		key = c.deflate.preparedKey(len(pm.data))
	}
	if !c.client {
		return c.sendFrame(ctx, pm.serverFrame(key))
	}
	var rsv byte
	if key != 0 {
		rsv = bitRsv1
	}
	return c.writeFrame(ctx, true, opcode(pm.typ), rsv, pm.payload(key))
}
