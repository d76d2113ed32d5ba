package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestNetConn(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	cn := NetConn(ctx, client, MessageBinary)
	sn := NetConn(ctx, server, MessageBinary)
	data := bytes.Repeat([]byte("0123456789"), 10000)
	go func() {
		// Written in odd pieces, read back as one stream.
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 7777)
			if _, err := cn.Write(rest[:k]); err != nil {
				t.Error(err)
				return
			}
			rest = rest[k:]
		}
		cn.Close()
	}()
	got, err := io.ReadAll(sn)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	// Deadlines map to os.ErrDeadlineExceeded.
	_, server2 := pair(t, nil, nil)
	sn2 := NetConn(context.Background(), server2, MessageBinary)
	sn2.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sn2.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}
