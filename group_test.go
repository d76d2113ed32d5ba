package websocket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGroupShutdown(t *testing.T) {
	checkLeaks(t)
	var g Group
	const n = 5
	accepted := make(chan *Conn, n)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		accepted <- c
		// The handler reads so that the closing handshake completes.
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	ctx := testCtx(t)
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	var clients []*Conn
	for range n {
		c, _, err := Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		clients = append(clients, c)
	}
	for range n {
		sc := <-accepted
		// A message written before the shutdown must arrive before the close.
		if err := sc.Write(ctx, MessageText, []byte("last words")); err != nil {
			t.Fatal(err)
		}
	}
	if g.Len() != n {
		t.Fatalf("group has %d connections", g.Len())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- g.Shutdown(sctx, "maintenance") }()
	for _, c := range clients {
		_, msg, err := c.Read(ctx)
		if err != nil || string(msg) != "last words" {
			t.Fatalf("before close: %q %v", msg, err)
		}
		_, _, err = c.Read(ctx)
		if CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client saw %v", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if g.Len() != 0 {
		t.Fatalf("%d connections left", g.Len())
	}
	// Connections arriving after the shutdown are turned away with 1001.
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("late client saw %v", err)
	}
}
