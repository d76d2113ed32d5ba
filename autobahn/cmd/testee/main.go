// Command testee runs the endpoints that the Autobahn|Testsuite (or this
// repository's Go suite, autobahn/cmd/wstest) tests, built on
// github.com/fullduplex/websocket.
//
// As an echo server, for a fuzzing client:
//
//	go run ./autobahn/cmd/testee -mode server -addr 127.0.0.1:9001 [-compress] [-poller]
//
// With -poller the server's connections are served by a websocket.Poller
// (event loops) instead of a goroutine each. With -http2 it also accepts
// WebSockets over HTTP/2 (RFC 8441) over cleartext (h2c with prior
// knowledge), on the same port as HTTP/1.1.
//
// As a client following the testee-client protocol, for a fuzzing server:
//
//	go run ./autobahn/cmd/testee -mode client -url ws://127.0.0.1:9001 -agent NAME [-compress] [-http2]
//
// With -http2 the client opens its WebSockets over HTTP/2 only, sharing
// connections. Each case, the case count and the reports request must end
// within -case-timeout (default 20m, longer than any Autobahn case may
// take), each dial within -dial-timeout (default 10s): a fuzzing server
// that stops answering makes the client fail instead of hang.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/autobahn/testee"

	// WebSockets over HTTP/2 need extended CONNECT, which Go 1.25 and 1.26
	// offer only with GODEBUG=http2xconnect=1; this sets it.
	_ "github.com/fullduplex/websocket/xconnect"
)

func main() {
	mode := flag.String("mode", "server", "server (echo server) or client (testee client)")
	addr := flag.String("addr", "127.0.0.1:9001", "listen address in server mode")
	rawURL := flag.String("url", "ws://127.0.0.1:9001", "fuzzing server URL in client mode")
	agent := flag.String("agent", "fullduplex", "agent name reported in client mode")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate")
	poller := flag.Bool("poller", false, "server mode: serve connections with a websocket.Poller")
	h2 := flag.Bool("http2", false, "WebSockets over HTTP/2: the server accepts them over h2c too, the client opens only them")
	caseTimeout := flag.Duration("case-timeout", testee.DefaultCaseTimeout, "client mode: the longest a case (or the case count, or the reports request) may take")
	dialTimeout := flag.Duration("dial-timeout", testee.DefaultDialTimeout, "client mode: the longest a dial and opening handshake may take")
	flag.Parse()
	if *caseTimeout <= 0 || *dialTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "-case-timeout and -dial-timeout must be positive")
		flag.Usage()
		os.Exit(2)
	}

	opts := testee.Options{
		Compress:    *compress,
		Poller:      *poller,
		CaseTimeout: *caseTimeout,
		DialTimeout: *dialTimeout,
	}
	if *h2 && *mode == "client" {
		opts.HTTP2 = new(websocket.HTTP2Transport)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	switch *mode {
	case "server":
		srv := &http.Server{Addr: *addr, Handler: testee.Handler(opts), ReadHeaderTimeout: 10 * time.Second}
		if *h2 {
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
		}
		go func() {
			<-ctx.Done()
			srv.Close()
		}()
		log.Printf("echo server on ws://%s (compression %v, poller %v, HTTP/2 %v)", *addr, *compress, *poller, *h2)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	case "client":
		err := testee.RunClient(ctx, *rawURL, *agent, opts, func(n, count int) {
			log.Printf("running case %d of %d", n, count)
		})
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("done; reports updated for agent %s", *agent)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", *mode)
		flag.Usage()
		os.Exit(2)
	}
}
