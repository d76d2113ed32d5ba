package websocket

import (
	"io"
	"testing"
)

// TestStaleWriterWrite: a Writer kept past its Close must not write into
// the next Writer's message. The peer used to receive "second STALE" and
// the stale Write returned nil.
func TestStaleWriterWrite(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w1, "first"); err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			w2, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w2, "second"); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write: n=%d err=%v, want 0 and an error", n, err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write after both closed: n=%d err=%v", n, err)
			}
			for _, want := range []string{"first", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}

// TestStaleWriterClose: a second Close of a Writer must neither finish nor
// unlock the message another goroutine is writing with a newer Writer.
func TestStaleWriterClose(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			opened := make(chan error, 1)
			proceed := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				w2, err := from.Writer(ctx, MessageText)
				opened <- err
				if err != nil {
					return
				}
				<-proceed
				_, err = io.WriteString(w2, "second")
				if cerr := w2.Close(); err == nil {
					err = cerr
				}
				done <- err
			}()
			if err := <-opened; err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err == nil {
				t.Error("second Close of a Writer succeeded")
			}
			if !from.msgMu.Held() || !from.flags.has(flagStreaming) {
				t.Error("a stale Close released the message lock the new Writer holds")
			}
			close(proceed)
			if err := <-done; err != nil {
				t.Fatalf("new Writer: %v", err)
			}
			for _, want := range []string{"", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}
