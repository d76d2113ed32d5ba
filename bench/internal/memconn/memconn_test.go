package memconn

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestReplay(t *testing.T) {
	c := NewReplay([]byte("abc"))
	buf := make([]byte, 7)
	if n, err := c.Read(buf); n != 7 || err != nil || string(buf) != "abcabca" {
		t.Fatalf("Read = %d, %v, %q", n, err, buf[:n])
	}
	c.SetLimit(4)
	if n, err := c.Read(buf); n != 4 || err != nil || string(buf[:n]) != "abca" {
		t.Fatalf("limited Read = %d, %v, %q", n, err, buf[:n])
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("Read past the limit: %v, want io.EOF", err)
	}
	if n, err := c.Write([]byte("xyz")); n != 3 || err != nil || c.Written() != 3 {
		t.Fatalf("Write = %d, %v; written %d", n, err, c.Written())
	}
	c.Close()
	if _, err := c.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	c.Reopen()
	if _, err := c.Write(buf); err != nil {
		t.Fatalf("Write after Reopen: %v", err)
	}
}

func TestResponseWriter(t *testing.T) {
	c := NewReplay([]byte{0})
	w := NewResponseWriter(c)
	w.Header().Set("Upgrade", "websocket")
	w.WriteHeader(http.StatusSwitchingProtocols)
	if w.Status() != http.StatusSwitchingProtocols {
		t.Fatalf("Status = %d", w.Status())
	}
	want := len("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	if c.Written() != int64(want) {
		t.Fatalf("wrote %d bytes, want %d", c.Written(), want)
	}
	nc, brw, err := w.Hijack()
	if err != nil || nc != c || brw.Reader.Size() != 4096 {
		t.Fatalf("Hijack = %v, %v, %v", nc, brw, err)
	}
	if _, _, err := w.Hijack(); err == nil {
		t.Fatal("second Hijack succeeded")
	}
	w.Reset(c)
	if len(w.Header()) != 0 || w.Status() != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestHandshaker(t *testing.T) {
	h := NewRing(2).Next()
	req := "GET / HTTP/1.1\r\nHost: x\r\nsec-websocket-key:  " + SampleKey + " \r\n\r\n"
	for _, part := range []string{req[:10], req[10:]} {
		if _, err := io.WriteString(h, part); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(h, 1024)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	done := make(chan error)
	go func() {
		_, err := h.Read(make([]byte, 1))
		done <- err
	}()
	h.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Read after Close: %v", err)
	}
}

func TestHandshakerRejectsMissingKey(t *testing.T) {
	h := NewHandshaker()
	io.WriteString(h, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b := make([]byte, 64)
	n, _ := h.Read(b)
	if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 400") {
		t.Fatalf("response %q", b[:n])
	}
}
