package testee_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/autobahn/testee"
	"github.com/fullduplex/websocket/internal/wstest"
)

// clientSteps are the client's exchanges with a fuzzing server, each of
// which must end within the options' bounds.
var clientSteps = []struct {
	name string
	run  func(ctx context.Context, base string, opts testee.Options) error
}{
	{
		name: "CaseCount",
		run: func(ctx context.Context, base string, opts testee.Options) error {
			_, err := testee.CaseCount(ctx, base, opts)
			return err
		},
	},
	{
		name: "RunCase",
		run: func(ctx context.Context, base string, opts testee.Options) error {
			return testee.RunCase(ctx, base, 1, "agent", opts)
		},
	},
	{
		name: "UpdateReports",
		run: func(ctx context.Context, base string, opts testee.Options) error {
			return testee.UpdateReports(ctx, base, "agent", opts)
		},
	},
	{
		name: "RunClient",
		run: func(ctx context.Context, base string, opts testee.Options) error {
			return testee.RunClient(ctx, base, "agent", opts, nil)
		},
	},
}

// TestClientTimeouts: every step of the client fails within its bound
// instead of waiting forever (the client used to set no deadline at all):
// DialTimeout against a server that accepts TCP connections and never
// answers, CaseTimeout against one that completes the handshake and then
// sends nothing.
func TestClientTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) string
		opts   testee.Options
	}{
		{
			name:   "dial",
			server: mute,
			opts:   testee.Options{DialTimeout: 100 * time.Millisecond},
		},
		{
			name:   "case",
			server: silentAfterHandshake,
			opts:   testee.Options{CaseTimeout: 200 * time.Millisecond},
		},
	} {
		for _, step := range clientSteps {
			t.Run(tc.name+"/"+step.name, func(t *testing.T) {
				wstest.CheckLeaks(t)
				err := runBounded(t, step.run, tc.server(t), tc.opts)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
				}
			})
		}
	}
}

// runBounded runs a client step and returns its error, failing the test
// if the step is still running long after the options' bounds.
func runBounded(t *testing.T, run func(context.Context, string, testee.Options) error, base string, opts testee.Options) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), base, opts) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the client is still waiting after 10s")
		return nil
	}
}

// mute listens on 127.0.0.1, accepts connections and never reads from or
// writes to them. It returns the server's ws:// URL; the listener and the
// connections are closed at the end of the test.
func mute(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, nc := range conns {
			nc.Close()
		}
	})
	return "ws://" + ln.Addr().String()
}

// silentAfterHandshake serves WebSocket handshakes on 127.0.0.1, then
// sends nothing: each connection is only read, until the client goes.
func silentAfterHandshake(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return "ws://" + strings.TrimPrefix(ts.URL, "http://")
}
