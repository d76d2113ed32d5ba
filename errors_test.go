package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestDialErrorText: a Dial error reads as one sentence with one
// "websocket:" prefix, and says what is wrong with a URL.
func TestDialErrorText(t *testing.T) {
	wstest.CheckLeaks(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer refusing.Close()
	refusingURL := "ws" + strings.TrimPrefix(refusing.URL, "http") + "/"
	tests := []struct {
		name string
		url  string
		want string
	}{
		{
			name: "no scheme",
			url:  "localhost:8080/ws",
			want: "websocket: failed to dial localhost:8080/ws: the URL must start with ws:// or wss://",
		},
		{
			name: "address without scheme",
			url:  "127.0.0.1:8080/ws",
			want: "websocket: failed to dial 127.0.0.1:8080/ws: the URL must start with ws:// or wss://",
		},
		{
			name: "other scheme",
			url:  "ftp://example.com/",
			want: `websocket: failed to dial ftp://example.com/: unsupported URL scheme "ftp": the URL must start with ws:// or wss://`,
		},
		{
			name: "malformed",
			url:  "ws://[::1/",
			want: "websocket: failed to dial ws://[::1/: invalid URL: missing ']' in host",
		},
		{
			name: "refused",
			url:  refusingURL,
			want: "websocket: failed to dial " + refusingURL + ": handshake failed: server answered 403 Forbidden, not 101 Switching Protocols",
		},
	}
	ctx := testCtx(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Dial(ctx, tc.url, nil)
			if c != nil {
				c.CloseNow()
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Dial: %v\nwant: %s", err, tc.want)
			}
		})
	}
	// The chain still holds the HandshakeError.
	_, _, err := Dial(ctx, refusingURL, nil)
	var herr *HandshakeError
	if !errors.As(err, &herr) || herr.Status != http.StatusForbidden {
		t.Fatalf("Dial: %v, want a *HandshakeError with 403", err)
	}
}

// TestVanishedPeerIs1006: a peer that disappears without a close frame is
// reported as a *CloseError with 1006, which no peer can send: this side
// makes it up, so that CloseStatus tells every end of a connection.
func TestVanishedPeerIs1006(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	server.CloseNow() // TCP closed without a close frame
	_, _, err := client.Read(ctx)
	if CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("Read: %v, want CloseStatus 1006", err)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read: %v does not wrap the network's end of stream", err)
	}
}

// TestReadLimitSender: a message over the peer's read limit is refused
// with 1009; the sender's writes succeed once the OS took the bytes, and
// its next Read reports the refusal.
func TestReadLimitSender(t *testing.T) {
	const limit = 64 << 10
	client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: limit}}, nil)
	ctx := testCtx(t)
	serverErr := make(chan error, 1)
	go func() {
		_, _, err := server.Read(ctx)
		serverErr <- err
	}()
	w, err := client.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	// These usually return nil, the OS having taken the bytes; once the
	// server has closed TCP a write may fail instead. Neither says that
	// the message was refused.
	io.Copy(w, io.LimitReader(zeros{}, 4*limit))
	w.Close()
	if err := <-serverErr; !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("server Read: %v, want ErrMessageTooBig", err)
	}
	// The refusal is the server's close frame, which the sender reads.
	_, _, err = client.Read(ctx)
	if CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("sender's Read: %v, want CloseStatus 1009", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestPeerGone: the errors that mean the connection was lost under us,
// wrapped as the net package wraps them, are told from the others.
func TestPeerGone(t *testing.T) {
	opError := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
	}
	cases := []struct {
		err  error
		gone bool
	}{
		{err: io.EOF, gone: true},
		{err: fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), gone: true},
		{err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}, gone: true},
		{err: opError("read", lostConnErrnos[0]), gone: true},
		{err: opError("writev", lostConnErrnos[len(lostConnErrnos)-1]), gone: true},
		{err: os.ErrDeadlineExceeded, gone: false},
		{err: opError("read", syscall.EINVAL), gone: false},
		{err: errors.New("something else"), gone: false},
	}
	for _, tc := range cases {
		if got := peerGone(tc.err); got != tc.gone {
			t.Errorf("peerGone(%v) = %v, want %v", tc.err, got, tc.gone)
		}
	}
}
