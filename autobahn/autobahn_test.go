package autobahn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/autobahn/suite"
	"github.com/fullduplex/websocket/autobahn/testee"

	// Go 1.25 and 1.26 offer extended CONNECT, which WebSockets over
	// HTTP/2 need, only with GODEBUG=http2xconnect=1; this import sets it.
	_ "github.com/fullduplex/websocket/xconnect"
)

var (
	full      = flag.Bool("autobahn.full", false, "run the large cases (9.x, 12.x, 13.x) at Autobahn's full sizes and message counts")
	timeScale = flag.Float64("autobahn.timescale", 0, "stretch the suite's waits by this factor (default 3, or 1 with -autobahn.full)")
	results   = flag.String("autobahn.results", "", "write the result tables, in Markdown, to this file")
)

// parallel is how many cases run at once. Most cases spend their time
// waiting on the peer or on a timer, so this is more than the cores.
const parallel = 16

// options returns the suite's options for this run. By default the large
// cases are scaled down by 500 (9.1.6 sends 32 KiB instead of 16 MiB, the
// compression cases send 2 messages instead of 1000, enough for the second
// to use the compression context of the first), and every wait is tripled
// so that a busy machine or the race detector cannot make a conforming peer
// look slow.
func options() suite.Options {
	ts := *timeScale
	if ts == 0 {
		ts = 3
		if *full {
			ts = 1
		}
	}
	if *full {
		return suite.Options{TimeScale: ts}
	}
	return suite.Options{Scale: 500, TimeScale: ts}
}

// informational are the cases Autobahn itself reports as INFORMATIONAL.
var informational = map[string]bool{"7.1.6": true, "7.13.1": true, "7.13.2": true}

// check fails the test for every result a conforming endpoint does not get:
// OK for behaviour and close, except INFORMATIONAL where Autobahn only
// informs, and UNIMPLEMENTED for the compression cases when compression is
// off (the endpoint then declines permessage-deflate, as it should).
func check(t *testing.T, ids []string, rs []*suite.Result, compress bool) {
	t.Helper()
	got := map[string]*suite.Result{}
	for _, r := range rs {
		got[r.ID] = r
	}
	for _, id := range ids {
		r := got[id]
		if r == nil {
			t.Errorf("case %s: no result", id)
			continue
		}
		fam, _, _ := strings.Cut(id, ".")
		want := suite.OK
		switch {
		case informational[id]:
			want = suite.Informational
		case (fam == "12" || fam == "13") && !compress:
			if r.Behavior != suite.Unimplemented || r.BehaviorClose != suite.OK {
				t.Errorf("case %s: %s, close %s; want UNIMPLEMENTED with a clean close when compression is off: %s; %s",
					id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose)
			}
			continue
		}
		closeWant := want
		if r.Behavior != want || r.BehaviorClose != closeWant {
			t.Errorf("case %s: %s, close %s (remote close code %s); want %s: %s; %s",
				id, r.Behavior, r.BehaviorClose, code(r.RemoteCloseCode), want, r.Result, r.ResultClose)
		}
	}
}

func code(c *int) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprint(*c)
}

// modes are the endpoint configurations under test.
var modes = []struct {
	name     string
	compress bool
	poller   bool // server only: connections served by a websocket.Poller
	h2       bool // WebSockets over HTTP/2 (RFC 8441), h2c with prior knowledge
}{
	{
		name:     "plain",
		compress: false,
	},
	{
		name:     "deflate",
		compress: true,
	},
	{
		name:     "poller",
		compress: false,
		poller:   true,
	},
	{
		name:     "poller+deflate",
		compress: true,
		poller:   true,
	},
	{
		name:     "h2",
		compress: false,
		h2:       true,
	},
	{
		name:     "h2+deflate",
		compress: true,
		h2:       true,
	},
	{
		name:     "h2+poller",
		compress: false,
		poller:   true,
		h2:       true,
	},
	{
		name:     "h2+poller+deflate",
		compress: true,
		poller:   true,
		h2:       true,
	},
}

// table collects the results for RESULTS.md.
type table struct {
	mu   sync.Mutex
	sums map[string]suite.Summary
}

func (tb *table) add(key string, rs []*suite.Result) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.sums == nil {
		tb.sums = map[string]suite.Summary{}
	}
	tb.sums[key] = suite.Summarize(rs)
}

func TestConformance(t *testing.T) {
	ids, err := suite.ResolveCases([]string{"*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := options()
	var tb table
	t.Run("server", func(t *testing.T) {
		for _, m := range modes {
			if m.h2 && m.poller && !*full {
				// Over HTTP/2 a Poller serves each connection with a
				// goroutine, as over TLS: the full run covers it.
				continue
			}
			t.Run(m.name, func(t *testing.T) {
				rs := runServer(t, ids, testee.Options{Compress: m.compress, Poller: m.poller}, m.h2, opts)
				check(t, ids, rs, m.compress)
				tb.add("server/"+m.name, rs)
			})
		}
	})
	t.Run("client", func(t *testing.T) {
		for _, m := range modes {
			if m.poller {
				continue
			}
			t.Run(m.name, func(t *testing.T) {
				to := testee.Options{Compress: m.compress}
				if m.h2 {
					to.HTTP2 = new(websocket.HTTP2Transport)
				}
				rs := runClient(t, ids, to, m.h2, opts)
				check(t, ids, rs, m.compress)
				tb.add("client/"+m.name, rs)
			})
		}
	})
	if *results != "" {
		if err := os.WriteFile(*results, []byte(tb.markdown(opts)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runServer tests the library's echo server with the fuzzing client; with
// h2, over HTTP/2 only (h2c with prior knowledge), each case on a
// connection of its own.
func runServer(t *testing.T, ids []string, to testee.Options, h2 bool, opts suite.Options) []*suite.Result {
	srv := httptest.NewUnstartedServer(testee.Handler(to))
	if h2 {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cc := suite.ClientCase{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Agent: "fullduplex", HTTP2: h2}
	rs, err := suite.RunCases(ctx, cc, ids, opts, parallel)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// runClient tests the library's testee client with the fuzzing server.
// Several clients share the cases so that the cases' waits overlap; the
// whole protocol (case count, cases, reports) runs as well. With h2 the
// fuzzing server is an HTTP/2 server (h2c with prior knowledge) and the
// client's WebSockets share its connections, up to 250 streams each.
func runClient(t *testing.T, ids []string, to testee.Options, h2 bool, opts suite.Options) []*suite.Result {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sv := &suite.Server{Cases: ids, Options: opts}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var (
		served sync.WaitGroup
		hs     *http.Server
	)
	served.Add(1)
	if h2 {
		hs = &http.Server{Handler: sv.HTTP2Handler(ctx), Protocols: new(http.Protocols)}
		hs.Protocols.SetUnencryptedHTTP2(true)
		go func() {
			defer served.Done()
			hs.Serve(ln)
		}()
	} else {
		go func() {
			defer served.Done()
			sv.Serve(ctx, ln)
		}()
	}
	defer func() {
		cancel() // ends the fuzzing server's connections
		if hs != nil {
			hs.Close()
		}
		served.Wait()
	}()
	base := "ws://" + ln.Addr().String()
	const agent = "fullduplex"

	count, err := testee.CaseCount(ctx, base, to)
	if err != nil {
		t.Fatal(err)
	}
	if count != len(ids) {
		t.Fatalf("case count %d, want %d", count, len(ids))
	}
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for k := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := k + 1; n <= count; n += parallel {
				if err := testee.RunCase(ctx, base, n, agent, to); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := testee.UpdateReports(ctx, base, agent, to); err != nil {
		t.Fatal(err)
	}
	if err := sv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	return sv.Report().Results(agent)
}

func (tb *table) markdown(opts suite.Options) string {
	var b strings.Builder
	b.WriteString("# Conformance results\n\n")
	b.WriteString("<!-- Generated by `go generate ./autobahn`; do not edit. -->\n\n")
	b.WriteString("The library's echo server and testee client against the 517 cases of the Autobahn|Testsuite, ")
	b.WriteString("as reproduced by [suite](suite) (`go test ./autobahn`). ")
	if opts.Scale > 1 {
		fmt.Fprintf(&b, "The large cases ran scaled down by %d. ", opts.Scale)
	} else {
		b.WriteString("Every case ran at Autobahn's full size. ")
	}
	if opts.TimeScale > 1 {
		fmt.Fprintf(&b, "Every wait of the suite was stretched %g times. ", opts.TimeScale)
	}
	b.WriteString("A case counts as OK when both its behaviour and its close behaviour are OK; ")
	b.WriteString("7.1.6, 7.13.1 and 7.13.2 are INFORMATIONAL by design; ")
	b.WriteString("without compression, the compression cases (12.x, 13.x) are UNIMPLEMENTED by design.\n")
	b.WriteString("\nThe sections over HTTP/2 run every case on a WebSocket over HTTP/2 (RFC 8441, h2c with prior knowledge): ")
	b.WriteString("the server's on an HTTP/2 connection per case, the client's sharing connections; ")
	b.WriteString("the end of a TCP connection is the end of the stream (END_STREAM, or RST_STREAM for an abort), ")
	b.WriteString("as [README.md](README.md#over-http2-rfc-8441) describes.")
	b.WriteString("\n")
	sections := []struct{ key, title string }{
		{"server/plain", "Server, permessage-deflate off"},
		{"server/deflate", "Server, permessage-deflate on"},
		{"server/poller", "Server with a Poller, permessage-deflate off"},
		{"server/poller+deflate", "Server with a Poller, permessage-deflate on"},
		{"server/h2", "Server over HTTP/2, permessage-deflate off"},
		{"server/h2+deflate", "Server over HTTP/2, permessage-deflate on"},
		{"server/h2+poller", "Server over HTTP/2 with a Poller, permessage-deflate off"},
		{"server/h2+poller+deflate", "Server over HTTP/2 with a Poller, permessage-deflate on"},
		{"client/plain", "Client, permessage-deflate off"},
		{"client/deflate", "Client, permessage-deflate on"},
		{"client/h2", "Client over HTTP/2, permessage-deflate off"},
		{"client/h2+deflate", "Client over HTTP/2, permessage-deflate on"},
	}
	for _, s := range sections {
		sum, ok := tb.sums[s.key]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		b.WriteString(sum.Markdown())
	}
	return b.String()
}

// TestConformanceH2TLS runs a few families against the library's server
// over HTTP/2 with TLS (ALPN "h2"), where TestConformance uses h2c: the
// cases see the same stream either way, so a sample shows the TLS path
// works.
func TestConformanceH2TLS(t *testing.T) {
	ids, err := suite.ResolveCases([]string{"1.*", "5.*", "7.*", "12.1.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(testee.Handler(testee.Options{Compress: true}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	opts := options()
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cc := suite.ClientCase{URL: "wss" + strings.TrimPrefix(srv.URL, "https"), Agent: "fullduplex", HTTP2: true}
	rs, err := suite.RunCases(ctx, cc, ids, opts, parallel)
	if err != nil {
		t.Fatal(err)
	}
	check(t, ids, rs, true)
}
