package peers

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/fullduplex/websocket/autobahn/suite"
	gorilla "github.com/gorilla/websocket"
)

var full = flag.Bool("autobahn.full", false, "run the large cases at Autobahn's full sizes")

func options() suite.Options {
	if *full {
		return suite.Options{}
	}
	return suite.Options{Scale: 500, TimeScale: 3}
}

// gorillaEcho is the usual gorilla echo server, streaming each message back
// with compression enabled. It checks nothing itself.
func gorillaEcho() http.Handler {
	up := gorilla.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			wr, err := c.NextWriter(typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}

// coderEcho is the usual coder/websocket echo server, with compression in
// context takeover mode.
func coderEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionContextTakeover})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		ctx := context.Background()
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}

func runServer(t *testing.T, name string, h http.Handler) map[string]*suite.Result {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	ids, err := suite.ResolveCases([]string{"*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cc := suite.ClientCase{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Agent: name}
	rs, err := suite.RunCases(ctx, cc, ids, options(), 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s server:\n%s", name, suite.Summarize(rs).Markdown())
	out := map[string]*suite.Result{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

// invalidUTF8Cases are the cases that send text that is not UTF-8 (or, in
// 6.6, a prefix of valid text cut inside a code point), which a peer must
// refuse with 1007.
func invalidUTF8Cases() []string {
	var ids []string
	for _, c := range suite.Cases() {
		if !strings.HasPrefix(c.ID, "6.") {
			continue
		}
		if strings.HasPrefix(c.ID, "6.3.") || strings.HasPrefix(c.ID, "6.4.") || strings.Contains(c.Description, "invalid UTF-8") {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// expectFailed checks that the suite finds a known weakness.
func expectFailed(t *testing.T, rs map[string]*suite.Result, ids []string, why string) {
	t.Helper()
	missed := 0
	for _, id := range ids {
		if r := rs[id]; r == nil || r.Behavior != suite.Failed {
			missed++
			if r != nil {
				t.Errorf("case %s: %s; want FAILED (%s)", id, r.Behavior, why)
			}
		}
	}
	if missed == 0 {
		t.Logf("found, as expected, in %d cases: %s", len(ids), why)
	}
}

func TestGorillaServer(t *testing.T) {
	rs := runServer(t, "gorilla", gorillaEcho())
	expectFailed(t, rs, invalidUTF8Cases(), "gorilla/websocket does not validate UTF-8 in text messages")
}

func TestCoderServer(t *testing.T) {
	rs := runServer(t, "coder", coderEcho())
	expectFailed(t, rs, invalidUTF8Cases(), "coder/websocket does not validate UTF-8 in text messages")
}

// gorillaTestee follows the testee-client protocol with gorilla's client.
// A case whose handshake the client refuses is left to the fuzzing server
// to judge.
func gorillaTestee(ctx context.Context, base, agent string, nums []int) error {
	d := gorilla.Dialer{EnableCompression: true}
	for _, n := range nums {
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, n, url.QueryEscape(agent))
		c, resp, err := d.DialContext(ctx, u, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
				return err
			}
			continue
		}
		for {
			typ, p, err := c.ReadMessage()
			if err != nil {
				break
			}
			if err := c.WriteMessage(typ, p); err != nil {
				break
			}
		}
		c.Close()
	}
	return nil
}

func TestGorillaClient(t *testing.T) {
	ids, err := suite.ResolveCases([]string{"*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sv := &suite.Server{Cases: ids, Options: options()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sv.Serve(ctx, ln)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	base := "ws://" + ln.Addr().String()
	const clients = 16
	var cw sync.WaitGroup
	errs := make([]error, clients)
	for k := range clients {
		var nums []int
		for n := k + 1; n <= len(ids); n += clients {
			nums = append(nums, n)
		}
		cw.Add(1)
		go func() {
			defer cw.Done()
			errs[k] = gorillaTestee(ctx, base, "gorilla", nums)
		}()
	}
	cw.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	results := sv.Report().Results("gorilla")
	t.Logf("gorilla client:\n%s", suite.Summarize(results).Markdown())
	rs := map[string]*suite.Result{}
	for _, r := range results {
		rs[r.ID] = r
	}
	expectFailed(t, rs, invalidUTF8Cases(), "gorilla/websocket does not validate UTF-8 in text messages")
	// Gorilla's client insists on no context takeover in both directions
	// and refuses the answers of 12.x and 13.1, which grant it only for the
	// server's direction.
	var refused []string
	for _, id := range ids {
		if strings.HasPrefix(id, "12.") || strings.HasPrefix(id, "13.1.") {
			refused = append(refused, id)
		}
	}
	expectFailed(t, rs, refused, "gorilla/websocket's client refuses a permessage-deflate answer without client_no_context_takeover")
}
