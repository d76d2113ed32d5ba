package autobahn

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/fullduplex/websocket"
)

// TestRegressionH2ServerEndsAfterFail: a server that fails a connection
// over HTTP/2 ends its side of the stream at once after its close frame.
// It used to linger as over TCP, draining until the client ended its side
// or maxLinger (1 s) ran out; over a stream the client, as RFC 6455
// section 7.1.1 asks, waits for the server instead, so the stream ended
// only after the linger, and Autobahn's fuzzing client, which gives the
// server 1 s, judged about 110 cases of each HTTP/2 server mode FAILED BY
// CLIENT (2.5, 3.x, 4.x, 5.x, the 6.x cases failed with 1002 or 1007).
// Over HTTP/2 no linger is needed: net/http sends what the handler wrote,
// then END_STREAM, in order on the connection, so the close frame cannot
// be lost to a reset as over TCP. Over HTTP/1.1 the server still lingers,
// after a half-close the client sees at once. The test measures, in both
// protocols, the time from our close frame's arrival to the end of the
// server's side, against maxLinger.
func TestRegressionH2ServerEndsAfterFail(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() {
			c.CloseNow()
			<-c.Done()
		}()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var (
				in  io.Reader
				out io.Writer
			)
			if proto == "HTTP/1.1" {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("handshake: %v %v", resp, err)
				}
				in, out = br, nc
			} else {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				cc, err := (&http2.Transport{}).NewClientConn(nc)
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Close()
				pr, pw := io.Pipe()
				defer pw.Close()
				req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, "http://"+addr+"/", pr)
				req.Header.Set(":protocol", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				resp, err := cc.RoundTrip(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("extended CONNECT: %v %v", resp, err)
				}
				defer resp.Body.Close()
				in, out = resp.Body, pw
			}
			// A text frame with RSV1 set and no extension negotiated: the
			// server fails the connection with 1002.
			if _, err := out.Write(clientFrame(0x40|0x1, []byte("Hello"))); err != nil {
				t.Fatal(err)
			}
			hdr := make([]byte, 2)
			if _, err := io.ReadFull(in, hdr); err != nil {
				t.Fatal(err)
			}
			body := make([]byte, hdr[1]&0x7f)
			if _, err := io.ReadFull(in, body); err != nil {
				t.Fatal(err)
			}
			if hdr[0] != 0x88 || len(body) < 2 || binary.BigEndian.Uint16(body) != 1002 {
				t.Fatalf("got frame %x %q, want a close frame with 1002", hdr, body)
			}
			// Answer it, as a client does, and wait for the server to end
			// its side. Over HTTP/2 the server may have ended the stream
			// already, and the answer then finds the request closed.
			start := time.Now()
			if _, err := out.Write(clientFrame(0x88, []byte{0x03, 0xe8})); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(in)
			took := time.Since(start)
			if err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("after the close frames: %v", err)
			}
			if len(rest) > 0 {
				t.Errorf("%d bytes after the close frame", len(rest))
			}
			t.Logf("%s: the server ended its side %v after the client's close frame", proto, took)
			if took > 500*time.Millisecond { // half of maxLinger
				t.Errorf("%s: the server ended its side %v after the client answered its close frame; want at once (Autobahn's client waits 1 s)", proto, took)
			}
		})
	}
}

// clientFrame is one final frame from a client, masked with a zero key
// (which leaves the payload as it is); payload at most 125 bytes.
func clientFrame(b0 byte, payload []byte) []byte {
	f := []byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	return append(f, payload...)
}
