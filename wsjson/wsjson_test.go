package wsjson_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
