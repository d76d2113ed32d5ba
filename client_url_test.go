package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestHandshakeRequestURL pins what Dial makes of a URL: the request
// line's target, the Host header, and the URLs it refuses (RFC 6455,
// section 3: no fragment, and a host to connect to).
func TestHandshakeRequestURL(t *testing.T) {
	tests := []struct {
		url        string
		wantTarget string
		wantHost   string
		wantErr    string
	}{
		{
			url:        "ws://example.com/chat?room=1",
			wantTarget: "/chat?room=1",
			wantHost:   "example.com",
		},
		{
			url:        "ws://example.com/chat?name=John Doe",
			wantTarget: "/chat?name=John%20Doe",
			wantHost:   "example.com",
		},
		{
			url:        `ws://example.com/?q="<a>"`,
			wantTarget: "/?q=%22%3Ca%3E%22",
			wantHost:   "example.com",
		},
		{
			url:        "ws://[fe80::1%25lo]:8080/x",
			wantTarget: "/x",
			wantHost:   "[fe80::1]:8080",
		},
		{
			url:        "ws://[::1]:8080/x",
			wantTarget: "/x",
			wantHost:   "[::1]:8080",
		},
		{
			url:        "ws://example.com:/x",
			wantTarget: "/x",
			wantHost:   "example.com",
		},
		{
			url:        "ws://[::1]:/x",
			wantTarget: "/x",
			wantHost:   "[::1]",
		},
		{
			url:     "ws://example.com/p#",
			wantErr: "fragment",
		},
		{
			url:     "ws://example.com/p?q#",
			wantErr: "fragment",
		},
		{
			url:     "ws://example.com/p#top",
			wantErr: "fragment",
		},
		{
			url:     "ws://:8080/",
			wantErr: "no host",
		},
		{
			url:     "ws://user@:8080/",
			wantErr: "no host",
		},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			req, err := newHandshakeRequest(tt.url, &DialOptions{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.RequestURI(); got != tt.wantTarget {
				t.Errorf("request target %q, want %q", got, tt.wantTarget)
			}
			if req.Host != tt.wantHost {
				t.Errorf("Host %q, want %q", req.Host, tt.wantHost)
			}
		})
	}
}

// TestDialErrorHidesPassword: a Dial that fails names its URL without the
// password of its userinfo, as net/http does, since errors end up in
// logs.
func TestDialErrorHidesPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the dial is refused
	for _, call := range []func(string) error{
		func(u string) error { _, _, err := Dial(testCtx(t), u, nil); return err },
		func(u string) error {
			a, b := net.Pipe()
			defer b.Close()
			_, _, err := Client(testCtx(t), a, u+"#", nil) // refused: a fragment
			return err
		},
	} {
		err := call("ws://alice:s3cret@" + addr + "/")
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice") {
			t.Errorf("error %v: want the URL without its password", err)
		}
	}
}

// noDeadlines is a net.Conn without deadlines, as an SSH channel is.
type noDeadlines struct{ net.Conn }

var errNoDeadlines = errors.New("deadlines not supported")

func (noDeadlines) SetDeadline(time.Time) error      { return errNoDeadlines }
func (noDeadlines) SetReadDeadline(time.Time) error  { return errNoDeadlines }
func (noDeadlines) SetWriteDeadline(time.Time) error { return errNoDeadlines }

// TestDialCtxWithoutDeadlines: Dial's ctx bounds the handshake, directly
// or through a proxy, also over a connection from NetDialContext that has
// no deadlines: it is closed when ctx ends. Dial used to wait for the
// peer to give up instead.
func TestDialCtxWithoutDeadlines(t *testing.T) {
	for _, viaProxy := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "proxy"}[viaProxy], func(t *testing.T) {
			wstest.CheckLeaks(t)
			// A server, or proxy, that reads the request and never
			// answers; it gives up after 5 s.
			addr := rawServer(t, func(nc net.Conn, _ *http.Request) {
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, nc)
			})
			opts := &DialOptions{
				NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					nc, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return noDeadlines{nc}, nil
				},
				Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
			}
			if viaProxy {
				opts.Proxy = proxyAt(addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, _, err := Dial(ctx, "ws://example.com/", opts)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial: %v, want its ctx's DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Dial returned %v after its 200 ms ctx ended", d)
			}
		})
	}
}
