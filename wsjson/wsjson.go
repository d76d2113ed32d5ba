// Package wsjson reads and writes JSON messages on a websocket.Conn with
// encoding/json.
package wsjson

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fullduplex/websocket"
)

// Read reads the next message and decodes it as JSON into v. A binary
// message is an error; the connection stays usable.
func Read(ctx context.Context, c *websocket.Conn, v any) error {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return fmt.Errorf("wsjson: expected a text message, got %v", typ)
	}
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("wsjson: failed to decode message: %w", err)
	}
	return nil
}

// Write encodes v as JSON and sends it as one text message, streamed
// through Conn.Writer so no intermediate copy is made.
func Write(ctx context.Context, c *websocket.Conn, v any) error {
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	// Encode appends a newline, which JSON readers ignore.
	encErr := json.NewEncoder(w).Encode(v)
	closeErr := w.Close()
	if encErr != nil {
		return fmt.Errorf("wsjson: failed to encode: %w", encErr)
	}
	return closeErr
}
