// Command wasmclient is our client as a page runs it: built with
// GOOS=js GOARCH=wasm by interop/wasm_test.go and run in headless
// Chromium, where websocket.Dial opens the browser's WebSocket object. It
// runs each check against the test's server and prints one JSON line per
// check, which the page's console carries to the test:
//
//	{"event":"check","name":NAME,"ok":BOOL,"msg":TEXT,"data":{...}}
//
// then {"event":"done"}. The test asserts every check, and what its
// server received. Arguments: the server's ws:// base URL and a ws:// URL
// where nothing listens.
//
// It builds on every port (it uses no syscall/js), so go vet sees it too.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/wsjson"
)

type check struct {
	Event string         `json:"event"`
	Name  string         `json:"name"`
	OK    bool           `json:"ok"`
	Msg   string         `json:"msg,omitempty"`
	Data  map[string]any `json:"data,omitempty"`
}

func emit(v any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}

func main() {
	if len(os.Args) < 3 {
		emit(map[string]any{"event": "error", "msg": "usage: wasmclient ws://server refused-url"})
		return
	}
	base, refused := strings.TrimSuffix(os.Args[1], "/"), os.Args[2]
	emit(map[string]any{"event": "started", "msg": runtime.GOOS + "/" + runtime.GOARCH})
	for _, c := range checks {
		data := map[string]any{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.run(ctx, base, refused, data)
		cancel()
		ck := check{Event: "check", Name: c.name, OK: err == nil, Data: data}
		if err != nil {
			ck.Msg = err.Error()
		}
		emit(ck)
	}
	emit(map[string]any{"event": "done"})
}

type checkFunc struct {
	name string
	run  func(ctx context.Context, base, refused string, data map[string]any) error
}

var checks = []checkFunc{
	{"dial", checkDial},
	{"echo text 0 B", echo(websocket.MessageText, 0)},
	{"echo text 125 B", echo(websocket.MessageText, 125)},
	{"echo text 64 KiB", echo(websocket.MessageText, 64<<10)},
	{"echo text 1 MiB", echo(websocket.MessageText, 1<<20)},
	{"echo binary 0 B", echo(websocket.MessageBinary, 0)},
	{"echo binary 125 B", echo(websocket.MessageBinary, 125)},
	{"echo binary 64 KiB", echo(websocket.MessageBinary, 64<<10)},
	{"echo binary 1 MiB", echo(websocket.MessageBinary, 1<<20)},
	{"writer fragments", checkWriter},
	{"wsjson", checkJSON},
	{"netconn", checkNetConn},
	{"subprotocol", checkSubprotocol},
	{"server close 4001", checkServerClose},
	{"client close 1000", checkClientClose},
	{"ping", checkPing},
	{"read ctx", checkReadCtx},
	{"read limit", checkReadLimit},
	{"unread bound", checkUnreadBound},
	{"browser compression", checkCompression},
	{"dial refused", checkRefused},
}

// payload returns n bytes of text (one- to four-byte characters) or
// binary, the same for a given size and type on every run.
func payload(typ websocket.MessageType, n int) []byte {
	p := make([]byte, 0, n)
	if typ == websocket.MessageText {
		chars := []string{"a", "é", "€", "😀", " ", "z"}
		for i := 0; len(p) < n; i++ {
			c := chars[i%len(chars)]
			if len(p)+len(c) > n {
				c = "x"
			}
			p = append(p, c...)
		}
		return p
	}
	for i := range n {
		p = append(p, byte(i*7+i>>9))
	}
	return p
}

func hash(p []byte) string {
	h := sha256.Sum256(p)
	return hex.EncodeToString(h[:])
}

func dial(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, opts)
	return c, err
}

func checkDial(ctx context.Context, base, _ string, data map[string]any) error {
	c, resp, err := websocket.Dial(ctx, base+"/echo", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	data["status"] = resp.StatusCode
	data["extensions"] = resp.Header.Get("Sec-WebSocket-Extensions")
	if resp.StatusCode != 101 {
		return fmt.Errorf("response status %d, want 101", resp.StatusCode)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

func echo(typ websocket.MessageType, n int) func(context.Context, string, string, map[string]any) error {
	return func(ctx context.Context, base, _ string, data map[string]any) error {
		c, err := dial(ctx, base+"/echo", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		p := payload(typ, n)
		data["sha256"], data["size"], data["type"] = hash(p), n, typ.String()
		start := time.Now()
		if err := c.Write(ctx, typ, p); err != nil {
			return err
		}
		gotTyp, got, err := c.Read(ctx)
		if err != nil {
			return err
		}
		data["ms"] = time.Since(start).Milliseconds()
		if gotTyp != typ || !bytes.Equal(got, p) {
			return fmt.Errorf("echo: %v of %d bytes (sha256 %s), sent %v of %d bytes", gotTyp, len(got), hash(got), typ, n)
		}
		return c.Close(websocket.StatusNormalClosure, "")
	}
}

// checkWriter streams 1 MiB through a Writer with 4 KiB fragments, which
// the browser sends as one message, and reads the echo with a Reader.
func checkWriter(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/echo", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{WriteBufferSize: 4096}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	p := payload(websocket.MessageBinary, 1<<20)
	data["sha256"], data["size"] = hash(p), len(p)
	w, err := c.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		return err
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 10_000)
		if _, err := w.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		return err
	}
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if typ != websocket.MessageBinary || !bytes.Equal(got, p) {
		return fmt.Errorf("echo: %v of %d bytes", typ, len(got))
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

func checkJSON(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/echo", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	type msg struct {
		Op    string   `json:"op"`
		Seq   int      `json:"seq"`
		Words []string `json:"words"`
	}
	sent := msg{Op: "hello", Seq: 7, Words: []string{"ünïcode", "✓"}}
	if err := wsjson.Write(ctx, c, sent); err != nil {
		return err
	}
	var got msg
	if err := wsjson.Read(ctx, c, &got); err != nil {
		return err
	}
	data["got"] = got
	if got.Op != sent.Op || got.Seq != sent.Seq || strings.Join(got.Words, ",") != strings.Join(sent.Words, ",") {
		return fmt.Errorf("got %+v, sent %+v", got, sent)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

func checkNetConn(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/echo", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	p := payload(websocket.MessageBinary, 3000)
	if _, err := nc.Write(p); err != nil {
		return err
	}
	got := make([]byte, len(p))
	if _, err := io.ReadFull(nc, got); err != nil {
		return err
	}
	if !bytes.Equal(got, p) {
		return errors.New("NetConn: the echo differs")
	}
	data["bytes"] = len(got)
	return nc.Close()
}

func checkSubprotocol(ctx context.Context, base, _ string, data map[string]any) error {
	c, resp, err := websocket.Dial(ctx, base+"/proto", &websocket.DialOptions{Subprotocols: []string{"bogus.v1", "chat.v2"}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	data["subprotocol"] = c.Subprotocol()
	data["header"] = resp.Header.Get("Sec-WebSocket-Protocol")
	if c.Subprotocol() != "chat.v2" || resp.Header.Get("Sec-WebSocket-Protocol") != "chat.v2" {
		return fmt.Errorf("subprotocol %q (response header %q), want chat.v2", c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// checkServerClose: the server sends a message and closes with 4001.
func checkServerClose(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/close4001", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "closing soon" {
		return fmt.Errorf("first read: %q, %v", msg, err)
	}
	_, _, err = c.Read(ctx)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("read after the server's close: %v, want a *CloseError", err)
	}
	data["code"], data["reason"], data["status"] = int(ce.Code), ce.Reason, int(websocket.CloseStatus(err))
	if ce.Code != 4001 || ce.Reason != "server says bye ✓" || websocket.CloseStatus(err) != 4001 {
		return fmt.Errorf("close: %v", err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		return errors.New("the connection did not end after the server's close")
	}
	return nil
}

func checkClientClose(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/clientclose", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	start := time.Now()
	err = c.Close(websocket.StatusNormalClosure, "client bye ✓")
	data["ms"] = time.Since(start).Milliseconds()
	return err
}

func checkPing(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/ping", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	start := time.Now()
	_, perr := c.Ping(ctx)
	serr := c.SendPing(ctx, []byte("x"))
	elapsed := time.Since(start)
	data["ping"], data["ms"] = fmt.Sprint(perr), elapsed.Milliseconds()
	if !errors.Is(perr, websocket.ErrPingInBrowser) || !errors.Is(serr, websocket.ErrPingInBrowser) {
		return fmt.Errorf("Ping: %v; SendPing: %v; want ErrPingInBrowser", perr, serr)
	}
	if elapsed > time.Second {
		return fmt.Errorf("Ping and SendPing took %v to refuse", elapsed)
	}
	// The connection is intact.
	if err := c.Write(ctx, websocket.MessageText, []byte("after ping")); err != nil {
		return err
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "after ping" {
		return fmt.Errorf("echo after Ping: %q, %v", msg, err)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// checkReadCtx: a Read whose ctx ends returns promptly, and the
// connection stays usable.
func checkReadCtx(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/echo", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, _, err = c.Read(short)
	elapsed := time.Since(start)
	cancel()
	data["ms"], data["err"] = elapsed.Milliseconds(), fmt.Sprint(err)
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("Read: %v, want context.DeadlineExceeded", err)
	}
	if elapsed > 2*time.Second {
		return fmt.Errorf("Read returned %v after its ctx ended", elapsed)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("still there")); err != nil {
		return err
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "still there" {
		return fmt.Errorf("echo after the interrupted Read: %q, %v", msg, err)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// checkReadLimit: the server sends one byte over the read limit.
func checkReadLimit(ctx context.Context, base, _ string, data map[string]any) error {
	c, err := dial(ctx, base+"/limit", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 64 << 10}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	var perr *websocket.ProtocolError
	data["err"] = fmt.Sprint(err)
	if !errors.As(err, &perr) || perr.Code != websocket.StatusMessageTooBig || !errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Errorf("Read: %v, want a *ProtocolError with 1009 and ErrMessageTooBig", err)
	}
	return nil
}

// checkUnreadBound: the page reads nothing while the server floods; past
// twice the read limit (1 MiB at least) the connection fails with 1009.
// The server says on a second connection when it saw the end.
func checkUnreadBound(ctx context.Context, base, _ string, data map[string]any) error {
	ctl, err := dial(ctx, base+"/flood-ctl", nil)
	if err != nil {
		return err
	}
	defer ctl.CloseNow()
	c, err := dial(ctx, base+"/flood", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 64 << 10}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	_, msg, err := ctl.Read(ctx)
	if err != nil {
		return fmt.Errorf("control connection: %v", err)
	}
	data["server"] = string(msg)
	var perr *websocket.ProtocolError
	for {
		_, _, err = c.Read(ctx)
		if err != nil {
			break
		}
	}
	data["err"] = fmt.Sprint(err)
	if !errors.As(err, &perr) || perr.Code != websocket.StatusMessageTooBig {
		return fmt.Errorf("Read: %v, want a *ProtocolError with 1009", err)
	}
	return ctl.Close(websocket.StatusNormalClosure, "")
}

// checkCompression: the server accepts permessage-deflate, which the
// browser negotiates and applies out of our sight.
func checkCompression(ctx context.Context, base, _ string, data map[string]any) error {
	c, resp, err := websocket.Dial(ctx, base+"/deflate", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	data["extensions"] = ext
	if !strings.Contains(ext, "permessage-deflate") {
		return fmt.Errorf("extensions %q, want permessage-deflate", ext)
	}
	p := bytes.Repeat([]byte("compressible text ✓ "), 4000)
	data["sha256"], data["size"] = hash(p), len(p)
	if err := c.Write(ctx, websocket.MessageText, p); err != nil {
		return err
	}
	if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, p) {
		return fmt.Errorf("echo: %d bytes, %v", len(got), err)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

func checkRefused(ctx context.Context, _, refused string, data map[string]any) error {
	start := time.Now()
	c, _, err := websocket.Dial(ctx, refused, nil)
	data["ms"] = time.Since(start).Milliseconds()
	if err == nil {
		c.CloseNow()
		return errors.New("Dial succeeded")
	}
	data["err"] = err.Error()
	return nil
}
