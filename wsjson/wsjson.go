// Package wsjson reads and writes JSON messages on a websocket.Conn with
// encoding/json.
package wsjson

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/fullduplex/websocket"
)

// Read reads the next message whole and decodes it as JSON into v. The
// message must hold one JSON value, with nothing but whitespace around it;
// otherwise Read returns an error wrapping the *json.SyntaxError (see
// errors.As) and leaves v untouched. A value of the wrong type for v is an
// error wrapping the *json.UnmarshalTypeError, and may leave v partly
// filled, as json.Unmarshal does. A binary message is an error too. Either
// way the message is consumed and the connection stays usable.
func Read(ctx context.Context, c *websocket.Conn, v any) error {
	bufp := readBufPool.Get().(*[]byte)
	defer putBuf(&readBufPool, bufp)
	typ, b, err := c.ReadAppend(ctx, (*bufp)[:0])
	*bufp = b[:0]
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return fmt.Errorf("wsjson: expected a text message, got %v", typ)
	}
	// Unmarshal checks the whole input before it stores anything.
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("wsjson: failed to decode message: %w", err)
	}
	return nil
}

// Write encodes v as JSON and sends it as one text message, followed by a
// newline, which JSON readers ignore. If v cannot be encoded, nothing is
// sent.
func Write(ctx context.Context, c *websocket.Conn, v any) error {
	e := encoderPool.Get().(*encoder)
	defer e.put()
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("wsjson: failed to encode: %w", err)
	}
	return c.Write(ctx, websocket.MessageText, e.buf.Bytes())
}

// maxPooled is the largest buffer kept for reuse: one large message must
// not pin its memory for the life of the pool.
const maxPooled = 64 << 10

var readBufPool = sync.Pool{New: func() any { return new([]byte) }}

func putBuf(pool *sync.Pool, bufp *[]byte) {
	if cap(*bufp) <= maxPooled {
		pool.Put(bufp)
	}
}

// encoder is a json.Encoder bound to its own output buffer. The Encoder
// keeps no state between values (only errors from its writer stick, and a
// bytes.Buffer returns none), so both are reused together.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoderPool = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

func (e *encoder) put() {
	if e.buf.Cap() > maxPooled {
		return
	}
	e.buf.Reset()
	encoderPool.Put(e)
}
