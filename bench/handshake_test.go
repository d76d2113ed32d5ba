package bench

import (
	"context"
	"net/http"
	"testing"

	coder "github.com/coder/websocket"
	ours "github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/bench/internal/memconn"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// BenchmarkAccept measures one server handshake: an http.Handler upgrading
// a request handed over by an in-memory ResponseWriter and Hijacker (the
// request and the hijacked buffers are reused, as net/http pools them), up
// to a connection ready for messages, then closed at once. What it
// allocates is the library's own cost, the connection object included.
func BenchmarkAccept(b *testing.B) {
	accepts := map[string]func(w http.ResponseWriter, r *http.Request) error{
		"ours": func(w http.ResponseWriter, r *http.Request) error {
			c, err := ours.Accept(w, r, nil)
			if err != nil {
				return err
			}
			return c.CloseNow()
		},
		"gorilla": func(w http.ResponseWriter, r *http.Request) error {
			c, err := gorillaUpgrader.Upgrade(w, r, nil)
			if err != nil {
				return err
			}
			return c.Close()
		},
		"coder": func(w http.ResponseWriter, r *http.Request) error {
			c, err := coder.Accept(w, r, nil)
			if err != nil {
				return err
			}
			return c.CloseNow()
		},
		"gobwas": func(w http.ResponseWriter, r *http.Request) error {
			conn, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return err
			}
			return conn.Close()
		},
		"gws": func(w http.ResponseWriter, r *http.Request) error {
			c, err := gwsUpgrader.Upgrade(w, r)
			if err != nil {
				return err
			}
			return c.NetConn().Close()
		},
	}
	for _, lib := range rotatedLibs() {
		accept := accepts[lib]
		b.Run(lib, func(b *testing.B) {
			conn := memconn.NewReplay([]byte{0})
			rw := memconn.NewResponseWriter(conn)
			run := func() {
				conn.Reopen()
				rw.Reset(conn)
				if err := accept(rw, upgradeRequest); err != nil {
					b.Fatal(err)
				}
				if rw.Status() != 0 && rw.Status() != http.StatusSwitchingProtocols {
					b.Fatal(rw.Status())
				}
			}
			for range warmup {
				run()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				run()
			}
		})
	}
}

var (
	gorillaUpgrader = &gorilla.Upgrader{}
	gwsUpgrader     = gws.NewUpgrader(&gws.BuiltinEventHandler{}, nil)
)

const dialURL = "ws://127.0.0.1:8080/"

// BenchmarkDial measures one client handshake against an in-memory
// connection that answers with a canned 101 response, up to a connection
// ready for messages, then closed at once.
func BenchmarkDial(b *testing.B) {
	ring := memconn.NewRing(256)
	ctx := context.Background()
	// Options are built once, as an application would keep them.
	oursOpts := &ours.DialOptions{NetDialContext: ring.DialContext}
	gorillaDialer := &gorilla.Dialer{NetDialContext: ring.DialContext}
	coderOpts := &coder.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: ring.DialContext}}}
	gobwasDialer := &ws.Dialer{NetDial: ring.DialContext}
	gwsOpts := &gws.ClientOption{
		Addr:      dialURL,
		NewDialer: func() (gws.Dialer, error) { return ring, nil },
	}
	gwsHandler := &gws.BuiltinEventHandler{}
	dials := map[string]func() error{
		"ours": func() error {
			c, _, err := ours.Dial(ctx, dialURL, oursOpts)
			if err != nil {
				return err
			}
			return c.CloseNow()
		},
		"gorilla": func() error {
			c, _, err := gorillaDialer.DialContext(ctx, dialURL, nil)
			if err != nil {
				return err
			}
			return c.Close()
		},
		"coder": func() error {
			c, _, err := coder.Dial(ctx, dialURL, coderOpts)
			if err != nil {
				return err
			}
			return c.CloseNow()
		},
		"gobwas": func() error {
			conn, br, _, err := gobwasDialer.Dial(ctx, dialURL)
			if err != nil {
				return err
			}
			if br != nil {
				ws.PutReader(br)
			}
			return conn.Close()
		},
		"gws": func() error {
			c, _, err := gws.NewClient(gwsHandler, gwsOpts)
			if err != nil {
				return err
			}
			return c.NetConn().Close()
		},
	}
	for _, lib := range rotatedLibs() {
		dial := dials[lib]
		b.Run(lib, func(b *testing.B) {
			for range warmup {
				if err := dial(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := dial(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
