package wsjson_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/wsjson"
)

type point struct {
	X, Y int
	Name string
}

func TestRoundTrip(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var p point
		for {
			if err := wsjson.Read(r.Context(), c, &p); err != nil {
				return
			}
			p.X, p.Y = p.Y, p.X
			if err := wsjson.Write(r.Context(), c, p); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := wsjson.Write(ctx, c, point{1, 2, "p"}); err != nil {
		t.Fatal(err)
	}
	var got point
	if err := wsjson.Read(ctx, c, &got); err != nil {
		t.Fatal(err)
	}
	if got != (point{2, 1, "p"}) {
		t.Fatalf("got %+v", got)
	}
	// Malformed JSON is an error, and a binary message too.
	c.Write(ctx, websocket.MessageBinary, []byte("{}"))
	c.Close(websocket.StatusNormalClosure, "")
}

func TestReadRejectsBadInput(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageBinary, []byte(`{"X":1}`))
		c.Write(r.Context(), websocket.MessageText, []byte(`{"X":`))
		c.Write(r.Context(), websocket.MessageText, []byte(`{"X":3}`))
		c.Read(r.Context())
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var p point
	if err := wsjson.Read(ctx, c, &p); err == nil || !strings.Contains(err.Error(), "text") {
		t.Fatalf("binary: %v", err)
	}
	if err := wsjson.Read(ctx, c, &p); err == nil {
		t.Fatal("truncated JSON accepted")
	}
	if err := wsjson.Read(ctx, c, &p); err != nil || p.X != 3 {
		t.Fatalf("after errors: %+v %v", p, err)
	}
}

// pair returns a connected client and server, closed at the end of the
// test, and fails the test if goroutines it started outlive it.
func pair(t *testing.T) (client, server *websocket.Conn) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > before; {
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines before the test, %d after", before, runtime.NumGoroutine())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	srvCh := make(chan *websocket.Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		srvCh <- c
	}))
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	sc := <-srvCh
	t.Cleanup(func() {
		cc.CloseNow()
		sc.CloseNow()
	})
	return cc, sc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestWriteSendsNothingOnEncodeError: a value that cannot be encoded used
// to go out as an empty text message.
func TestWriteSendsNothingOnEncodeError(t *testing.T) {
	client, server := pair(t)
	ctx := testCtx(t)
	for _, v := range []any{make(chan int), math.NaN(), json.RawMessage(`{"X":`)} {
		if err := wsjson.Write(ctx, client, v); err == nil {
			t.Fatalf("%T encoded without error", v)
		}
	}
	if err := wsjson.Write(ctx, client, point{X: 1}); err != nil {
		t.Fatal(err)
	}
	var p point
	if err := wsjson.Read(ctx, server, &p); err != nil || p.X != 1 {
		t.Fatalf("first message the server saw: %+v %v", p, err)
	}
}

// TestReadConsumesMessage: Read used to stop at the end of the JSON value,
// before the end of the message, so a Ping that then read the connection
// for its pong waited behind the message's unread end until ctx ended.
func TestReadConsumesMessage(t *testing.T) {
	client, server := pair(t)
	ctx := testCtx(t)
	go func() {
		var p point
		for wsjson.Read(ctx, server, &p) == nil && wsjson.Write(ctx, server, p) == nil {
		}
	}()
	if err := wsjson.Write(ctx, client, point{1, 2, "p"}); err != nil {
		t.Fatal(err)
	}
	var got point
	if err := wsjson.Read(ctx, client, &got); err != nil || got != (point{1, 2, "p"}) {
		t.Fatalf("got %+v %v", got, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Ping(pctx); err != nil {
		t.Fatalf("Ping after a JSON round trip: %v", err)
	}
}

// TestReadRejectsTrailingData: a message must hold one JSON value and
// nothing but whitespace after it. Either way the message is consumed.
func TestReadRejectsTrailingData(t *testing.T) {
	client, server := pair(t)
	ctx := testCtx(t)
	for _, msg := range []string{`{"X":1} trailing garbage`, `{"X":2}{"X":3}`, " {\"X\":4} \r\n\t"} {
		if err := server.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var p point
	for _, msg := range []string{`{"X":1} trailing garbage`, `{"X":2}{"X":3}`} {
		err := wsjson.Read(ctx, client, &p)
		var serr *json.SyntaxError
		if !errors.As(err, &serr) {
			t.Fatalf("%q: got %+v, %v; want a *json.SyntaxError", msg, p, err)
		}
	}
	if err := wsjson.Read(ctx, client, &p); err != nil || p.X != 4 {
		t.Fatalf("surrounding whitespace: %+v %v", p, err)
	}
}
