package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// servePipe serves h over a wstest.PipeListener until the end of the test.
func servePipe(t *testing.T, h http.HandlerFunc) *wstest.PipeListener {
	t.Helper()
	l := wstest.NewPipeListener()
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return l
}

func TestClientOverPipe(t *testing.T) {
	wstest.CheckLeaks(t)
	accepted := make(chan *Conn, 1)
	l := servePipe(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/chat" || r.Host != "chat.internal" {
			http.Error(w, "wrong place", http.StatusNotFound)
			return
		}
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{"v1"}})
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		accepted <- c
	})
	ctx := testCtx(t)
	c, resp, err := Client(ctx, l.Dial(t), "ws://chat.internal/chat", &DialOptions{Subprotocols: []string{"v1"}})
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "v1" {
		t.Fatalf("status %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
	}
	s := await(t, accepted, "the accepted Conn")
	defer s.CloseNow()
	go func() {
		typ, msg, err := s.Read(ctx)
		if err == nil {
			s.Write(ctx, typ, msg)
		}
		s.Read(ctx) // answers the close
	}()
	if err := c.Write(ctx, MessageText, []byte("over a pipe")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "over a pipe" {
		t.Fatalf("Read: %q %v", msg, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestClientFailures(t *testing.T) {
	wstest.CheckLeaks(t)
	l := servePipe(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	})
	ctx := testCtx(t)
	tests := []struct {
		name    string
		url     string
		status  int // of the response returned, 0 for none
		wantErr string
	}{
		{
			name:    "refused",
			url:     "ws://example.com/",
			status:  http.StatusForbidden,
			wantErr: "websocket: failed to open ws://example.com/: handshake failed: server answered 403 Forbidden, not 101 Switching Protocols",
		},
		{
			name:    "no scheme",
			url:     "example.com/",
			wantErr: "websocket: failed to open example.com/: the URL must start with ws:// or wss://",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := l.Dial(t)
			c, resp, err := Client(ctx, nc, tc.url, nil)
			if c != nil || err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Client: %v, want %q", err, tc.wantErr)
			}
			if tc.status != 0 && (resp == nil || resp.StatusCode != tc.status) {
				t.Errorf("response %v, want status %d", resp, tc.status)
			}
			if tc.status == 0 && resp != nil {
				t.Errorf("response %v, want none", resp)
			}
			// Client closed the connection it was given.
			if _, err := nc.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("write after failure: %v, want io.ErrClosedPipe", err)
			}
		})
	}
}

// TestClientSilentPeer: ctx bounds the handshake through nc's deadlines.
func TestClientSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := Client(ctx, a, "ws://example.com/", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Client: %v, want the deadline", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("gave up after %v", d)
		}
		if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("write after failure: %v, want io.ErrClosedPipe", err)
		}
	})
}
