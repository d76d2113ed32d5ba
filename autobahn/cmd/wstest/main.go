// Command wstest is a Go reproduction of the Autobahn|Testsuite's wstest
// fuzzing modes. It reads Autobahn's spec files and writes reports in
// Autobahn's layout (index.json, one JSON file per agent and case, and an
// index.html summary).
//
// Test servers, as the fuzzing client:
//
//	go run ./autobahn/cmd/wstest -m fuzzingclient -s fuzzingclient.json
//
// Test clients, as the fuzzing server (clients connect to the spec's url
// and follow the testee-client protocol):
//
//	go run ./autobahn/cmd/wstest -m fuzzingserver -s fuzzingserver.json
//
// -scale divides the sizes of the 9.x cases and the message counts of 9.7,
// 9.8, 12 and 13 for quick runs; -timescale stretches every wait for slow
// machines; -parallel runs several cases at once as the fuzzing client.
//
// -http2 runs the cases on WebSockets over HTTP/2 (RFC 8441) instead: the
// fuzzing client opens each case as an extended CONNECT stream (h2c with
// prior knowledge for ws://, TLS with ALPN for wss://), and the fuzzing
// server speaks HTTP/2 over cleartext only and accepts extended CONNECT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/fullduplex/websocket/autobahn/suite"

	// The fuzzing server over HTTP/2 needs extended CONNECT, which Go 1.25
	// and 1.26 offer only with GODEBUG=http2xconnect=1; this sets it.
	_ "github.com/fullduplex/websocket/xconnect"
)

func main() {
	mode := flag.String("m", "", "mode: fuzzingclient or fuzzingserver")
	specPath := flag.String("s", "", "spec file (Autobahn's JSON format)")
	scale := flag.Int("scale", 1, "divide large case sizes and message counts by this factor")
	timeScale := flag.Float64("timescale", 1, "stretch every wait by this factor")
	parallel := flag.Int("parallel", 1, "cases run at once by the fuzzing client")
	h2 := flag.Bool("http2", false, "run the cases on WebSockets over HTTP/2 (RFC 8441)")
	flag.Parse()
	if *specPath == "" || (*mode != "fuzzingclient" && *mode != "fuzzingserver") {
		flag.Usage()
		os.Exit(2)
	}
	spec, err := suite.ReadSpec(*specPath)
	if err != nil {
		log.Fatal(err)
	}
	ids, err := spec.ResolveCases()
	if err != nil {
		log.Fatal(err)
	}
	exclude, err := spec.Excluder()
	if err != nil {
		log.Fatal(err)
	}
	opts := suite.Options{Scale: *scale, TimeScale: *timeScale}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	switch *mode {
	case "fuzzingclient":
		outdir := spec.OutDir
		if outdir == "" {
			outdir = "./reports/servers"
		}
		if err := fuzzingClient(ctx, spec, ids, exclude, opts, *parallel, *h2, outdir); err != nil {
			log.Fatal(err)
		}
	case "fuzzingserver":
		outdir := spec.OutDir
		if outdir == "" {
			outdir = "./reports/clients"
		}
		if err := fuzzingServer(ctx, spec, ids, exclude, opts, *h2, outdir); err != nil {
			log.Fatal(err)
		}
	}
}

func fuzzingClient(ctx context.Context, spec *suite.Spec, ids []string, exclude func(string, string) bool, opts suite.Options, parallel int, h2 bool, outdir string) error {
	log.Printf("will run %d cases against %d servers", len(ids), len(spec.Servers))
	report := suite.NewReport()
	for _, srv := range spec.Servers {
		cc := suite.ClientCase{URL: srv.URL, Agent: srv.Agent, Origin: srv.Origin, Protocols: srv.Protocols, Exclude: exclude, HTTP2: h2}
		log.Printf("testing %s", srv.URL)
		results, err := suite.RunCases(ctx, cc, ids, opts, parallel)
		for _, r := range results {
			report.Add(r)
		}
		if err != nil {
			// Autobahn moves on to the next server when one cannot be
			// reached.
			log.Printf("connection to %s failed: %v", srv.URL, err)
		}
		if len(results) > 0 {
			sum := suite.Summarize(results)
			log.Printf("%s (%s): %d cases, %d OK, %d not OK", srv.URL, results[0].Agent, sum.Total.Cases, sum.Total.Counts[suite.OK], sum.Total.Cases-sum.Total.Counts[suite.OK])
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := report.Write(outdir); err != nil {
		return err
	}
	log.Printf("reports written to %s", filepath.Join(outdir, "index.html"))
	return nil
}

func fuzzingServer(ctx context.Context, spec *suite.Spec, ids []string, exclude func(string, string) bool, opts suite.Options, h2 bool, outdir string) error {
	if spec.URL == "" {
		return fmt.Errorf("the spec has no url to listen on")
	}
	u, err := url.Parse(spec.URL)
	if err != nil {
		return err
	}
	if u.Scheme != "ws" {
		return fmt.Errorf("url %s: only ws:// is supported", spec.URL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	ln, err := net.Listen("tcp", host)
	if err != nil {
		return err
	}
	sv := &suite.Server{
		Cases:   ids,
		Options: opts,
		OutDir:  outdir,
		Exclude: exclude,
		Logf:    log.Printf,
	}
	if h2 {
		log.Printf("fuzzing server on %s over HTTP/2 (h2c): will run %d cases for any client connecting", spec.URL, len(ids))
		hs := &http.Server{Handler: sv.HTTP2Handler(ctx), Protocols: new(http.Protocols)}
		hs.Protocols.SetUnencryptedHTTP2(true)
		stop := context.AfterFunc(ctx, func() { hs.Close() })
		defer stop()
		if err := hs.Serve(ln); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
	log.Printf("fuzzing server on %s: will run %d cases for any client connecting", spec.URL, len(ids))
	return sv.Serve(ctx, ln)
}
