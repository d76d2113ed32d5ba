//go:build !js

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// The client builds for js/wasm, the server serves it with its glue, and
// the echo endpoint answers. The page itself runs in interop/wasm_test.go's
// browser with the same library.
func TestServer(t *testing.T) {
	h, err := newHandler(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		path, wantType string
		wantPrefix     []byte
	}{
		{"/", "text/html; charset=utf-8", []byte("<!doctype html>")},
		{"/main.wasm", "application/wasm", []byte("\x00asm")},
		{"/wasm_exec.js", "text/javascript", nil},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.wantType || !bytes.HasPrefix(body, tc.wantPrefix) || len(body) == 0 {
			t.Errorf("%s: %s, %q, %d bytes", tc.path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &websocket.DialOptions{Subprotocols: []string{"echo.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo: hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}
