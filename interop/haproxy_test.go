package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// HAProxy as a third-party RFC 8441 peer. HAProxy (2.4 and later) takes
// WebSockets over HTTP/2 on its frontends, advertising
// SETTINGS_ENABLE_CONNECT_PROTOCOL unless told not to
// (h2-workaround-bogus-websocket-clients), and opens them over HTTP/2
// toward a server line with "proto h2" ("ws auto", the default, keeps the
// server's protocol; configuration.txt of 2.6, "ws" and "proto"). It
// converts between an HTTP/1.1 Upgrade on one side and an extended
// CONNECT on the other, so each test below has our client on one side of
// it and our server on the other, and checks on both which protocol came.

// haproxyFull runs the whole message plan, pipelined, through HAProxy.
// HAProxy 2.6's HTTP/2 frontend then stalls on the first 16 MiB message:
// with our server busy echoing it, HAProxy stops reading the client's
// connection once the stream's buffer toward the server is full, with
// DATA it granted window for still queued, so it never reads the
// WINDOW_UPDATE frames behind them that would let it forward the echo.
// Off by default; see interop/README.md.
var haproxyFull = flag.Bool("haproxy-full", false, "run the whole message plan (up to 16 MiB, pipelined) through HAProxy, which stalls HAProxy 2.6's HTTP/2 frontend")

// haproxyConf is HAProxy's configuration: one frontend, one backend to our
// server, and a health check of the test's probe listener, which tells the
// test that HAProxy runs its event loop, its listeners bound. The check is
// an HTTP one: a plain connect check is aborted before the probe could
// accept it.
const haproxyConf = `global
    log stderr format raw local0 info
    nbthread 2
    maxconn 200
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 120s
frontend fe
    bind fd@3{{bind}}
    default_backend be
backend be
    server app 127.0.0.1:{{backend}}{{server}}
backend probe
    option httpchk GET /ready
    server probe 127.0.0.1:{{probe}} check inter 100ms
`

// haproxyFront is how our client reaches HAProxy.
type haproxyFront int

const (
	frontH2C  haproxyFront = iota // HTTP/2 over cleartext, prior knowledge
	frontH2                       // TLS, ALPN h2 (and http/1.1)
	frontHTTP                     // HTTP/1.1 over cleartext
)

// TestHAProxy runs our client through HAProxy to our server, with HTTP/2
// (RFC 8441) on either side or both, compression on and off.
func TestHAProxy(t *testing.T) {
	haproxy := need(t, "haproxy", "apt-get install haproxy")
	version := programVersion(t, haproxy, "-v")
	version = strings.TrimPrefix(strings.Fields(version + " ? ? ?")[2], "version ")
	for _, tc := range []struct {
		name      string
		front     haproxyFront
		backH2    bool // "proto h2" on the server line: HAProxy speaks RFC 8441 to our server
		direction string
	}{
		{
			name:      "h2c front",
			front:     frontH2C,
			direction: "our client (HTTP/2, h2c) → HAProxy → our server (HTTP/1.1)",
		},
		{
			name:      "h2 TLS front",
			front:     frontH2,
			direction: "our client (HTTP/2, TLS ALPN h2) → HAProxy → our server (HTTP/1.1)",
		},
		{
			name:      "h2c back",
			front:     frontHTTP,
			backH2:    true,
			direction: "our client (HTTP/1.1) → HAProxy → our server (HTTP/2, h2c, proto h2)",
		},
		{
			name:      "h2 both sides",
			front:     frontH2,
			backH2:    true,
			direction: "our client (HTTP/2, TLS ALPN h2) → HAProxy → our server (HTTP/2, h2c, proto h2)",
		},
	} {
		for _, comp := range []compression{compressionOff, compressionModes[1]} {
			t.Run(tc.name+"/"+comp.name, func(t *testing.T) {
				r := newRow(t, "HAProxy", tc.direction, comp.name)
				r.setVersion(version)
				testHAProxy(t, r, haproxy, tc.front, tc.backH2, comp)
				comp.finish(t, r)
			})
		}
	}
}

func testHAProxy(t *testing.T, r *row, haproxy string, front haproxyFront, backH2 bool, comp compression) {
	backend := newRecordingResponder(t, comp)
	dir := t.TempDir()
	// HAProxy takes over our listening socket (bind fd@3): a port chosen
	// here and bound later by HAProxy could be taken in between.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().(*net.TCPAddr).Port
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()
	var bind, server string
	var roots *x509.CertPool
	if front == frontH2C {
		bind = " proto h2"
	}
	if front == frontH2 {
		var cert tls.Certificate
		cert, roots = selfSignedCert(t)
		pemPath := filepath.Join(dir, "haproxy.pem")
		writeCertPEM(t, pemPath, cert)
		bind = " ssl crt " + pemPath + " alpn h2,http/1.1"
	}
	if backH2 {
		server = " proto h2"
	}
	ready, probe := probeListener(t)
	conf := strings.NewReplacer(
		"{{bind}}", bind,
		"{{backend}}", fmt.Sprint(port(t, backend.srv)),
		"{{server}}", server,
		"{{probe}}", fmt.Sprint(probe),
	).Replace(haproxyConf)
	confPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := startPeer(t, procSpec{
		name:       "haproxy",
		dir:        dir,
		argv:       []string{haproxy, "-db", "-f", confPath},
		merge:      true,
		stopSignal: syscall.SIGTERM,
		extraFiles: []*os.File{lnFile},
	})
	select {
	case <-ready:
	case <-proc.exited:
		t.Fatalf("haproxy exited before it was ready: %v", proc.wait(context.Background()))
	case <-time.After(20 * time.Second):
		t.Fatal("haproxy did not check the probe within 20s")
	}

	// Our client: HTTP/2 only where the front speaks it, counting the TCP
	// connections it opens.
	var dials atomic.Int32
	opts := &websocket.DialOptions{
		Proxy: noProxy,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	url := fmt.Sprintf("ws://127.0.0.1:%d/interop", listen)
	wantProto := "HTTP/1.1"
	if front != frontHTTP {
		opts.HTTP2 = new(websocket.HTTP2Transport)
		opts.HTTP2Only = true
		wantProto = "HTTP/2.0"
	}
	if front == frontH2 {
		opts.TLSConfig = &tls.Config{RootCAs: roots}
		url = "wss" + strings.TrimPrefix(url, "ws")
	}

	// Three sessions at once, over HTTP/2 three streams of one connection
	// to HAProxy: the message plan up to 64 KiB, pipelined, with pings;
	// the short one, closed by our server; and 1 MiB messages, text and
	// binary, whole and fragmented, one at a time (pipelined, large
	// messages stall HAProxy 2.6's HTTP/2 frontend: see haproxyFull).
	mainSpec := mainSession("interop.v1")
	if !*haproxyFull {
		mainSpec.maxSize = 64 << 10
	}
	sessions := []struct {
		name      string
		protocols []string
		spec      sessionSpec
		plan      []*msgCase // sent one at a time, if not nil
	}{
		{
			name:      "main",
			protocols: offeredProtocols,
			spec:      comp.session(mainSpec),
		},
		{
			name:      "short",
			protocols: unknownProtocols,
			spec:      shortSession(""),
		},
		{
			name:      "1 MiB",
			protocols: offeredProtocols,
			spec:      mainSession("interop.v1"),
			plan:      largePlan(),
		},
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			resp, ok := dialHAProxySession(t, url, s.protocols, s.spec, s.plan, comp, opts, backend.watchClose)
			if !ok {
				return
			}
			if resp.Proto != wantProto {
				t.Errorf("%s session: our client's handshake went over %s, want %s", s.name, resp.Proto, wantProto)
			}
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if want := comp.on() && *compressionOn; strings.Contains(ext, "permessage-deflate") != want {
				t.Errorf("%s session: the handshake's answer has Sec-WebSocket-Extensions %q; want permessage-deflate: %v", s.name, ext, want)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// What our server saw.
	recs := backend.records()
	if len(recs) != len(sessions) {
		t.Fatalf("our server saw %d WebSockets, want %d", len(recs), len(sessions))
	}
	for _, rec := range recs {
		t.Logf("server: %v", rec)
		if rec.Err != "" {
			t.Errorf("our server: %v", rec)
		}
		switch {
		case backH2 && (rec.ProtoMajor != 2 || rec.Method != http.MethodConnect):
			t.Errorf("our server saw %s %s from HAProxy, want HTTP/2.0 CONNECT (RFC 8441)", rec.Proto, rec.Method)
		case !backH2 && (rec.ProtoMajor != 1 || rec.Method != http.MethodGet):
			t.Errorf("our server saw %s %s from HAProxy, want HTTP/1.1 GET (Upgrade)", rec.Proto, rec.Method)
		}
		if want := comp.on() && *compressionOn; strings.Contains(rec.Offered, "permessage-deflate") != want {
			t.Errorf("our server got the offer %q through HAProxy; want permessage-deflate: %v", rec.Offered, want)
		}
	}
	n := dials.Load()
	if front != frontHTTP && n != 1 {
		t.Errorf("our client opened %d TCP connections to HAProxy for %d WebSockets over HTTP/2, want 1", n, len(sessions))
	}
	last := recs[len(recs)-1]
	plan := "0 B–64 KiB pipelined, 1 MiB one at a time"
	if *haproxyFull {
		plan = "0 B–16 MiB pipelined, 1 MiB one at a time"
	}
	r.addNote(fmt.Sprintf("our client: %s, %d WebSockets at once on %s; our server saw %s %s on %s from HAProxy; messages %s, both ways; pings both ways; closes 4001 (ours) and 1000 (server's)",
		wantProto, len(sessions), tcpConns(int(n)), last.Proto, last.Method, tcpConns(last.TCPConns), plan))
}

func tcpConns(n int) string {
	if n == 1 {
		return "1 TCP connection"
	}
	return fmt.Sprintf("%d TCP connections", n)
}

// dialHAProxySession dials url with our client and base's options and runs
// one session, with plan sent one message at a time if it is not nil; it
// returns the handshake's response.
func dialHAProxySession(t *testing.T, url string, protocols []string, spec sessionSpec, plan []*msgCase, comp compression, base *websocket.DialOptions, watch closeWatcher) (*http.Response, bool) {
	t.Helper()
	pings := make(chan []byte, 16)
	opts := *base
	opts.ConnOptions = driverOptions(pingRecorder(pings))
	comp.apply(&opts.ConnOptions)
	opts.Subprotocols = protocols
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &opts)
	if err != nil {
		t.Errorf("dialing %s: %v", url, err)
		return nil, false
	}
	s := newSession(t, c, spec, pings)
	if plan == nil {
		s.run(watch)
	} else {
		runOneAtATime(s, plan, watch)
	}
	return resp, true
}

var (
	largeOnce  sync.Once
	largeCases []*msgCase
)

// largePlan returns 1 MiB messages, text and binary, whole and fragmented.
func largePlan() []*msgCase {
	largeOnce.Do(func() {
		rng := rand.New(rand.NewChaCha8([32]byte{'1', 'M', 'i', 'B'}))
		for _, frag := range []bool{false, true} {
			for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
				var p []byte
				if typ == websocket.MessageText {
					p = randomText(rng, 1<<20)
				} else {
					p = make([]byte, 1<<20)
					for i := range p {
						p[i] = byte(rng.Uint32())
					}
				}
				largeCases = append(largeCases, &msgCase{seq: len(largeCases) + 1, typ: typ, frag: frag, payload: p, sum: sha256Hex(p)})
			}
		}
	})
	return largeCases
}

// runOneAtATime is session.run with plan for the message plan, each
// message sent once the echo of the one before has come back.
func runOneAtATime(s *session, plan []*msgCase, watch closeWatcher) {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.spec.timeout)
	defer cancel()
	readCtx, stopRead := context.WithCancel(ctx)
	defer func() {
		stopRead()
		s.c.CloseNow()
		<-s.done
	}()
	go s.readLoop(readCtx)
	err := s.handshakeAndPings(ctx)
	for _, m := range plan {
		if err != nil {
			break
		}
		if err = s.writeCase(ctx, m); err != nil {
			break
		}
		var ev inbound
		if ev, err = s.next(ctx, fmt.Sprintf("echo of message %d", m.seq)); err == nil {
			err = checkEcho(ev, m)
		}
	}
	if err == nil {
		err = s.send(ctx, ctrl{Op: "stats"})
	}
	if err == nil {
		var ev inbound
		ev, err = s.next(ctx, "stats")
		if err == nil && (ev.ctrl.Op != "stats" || ev.ctrl.Received != len(plan) || ev.ctrl.Errors != 0) {
			err = fmt.Errorf("the peer's stats: %+v, want %d messages received and no errors", *ev.ctrl, len(plan))
		}
	}
	if err == nil {
		err = s.closeHandshake(ctx, watch)
	}
	if err != nil {
		t.Error(err)
	}
}

// recordingResponder is our server behind HAProxy: a goResponder over
// HTTP/1.1 and HTTP/2 (h2c), with the compression of the row, recording
// how each WebSocket came.
type recordingResponder struct {
	*goResponder
	srv   *httptest.Server
	comp  compression
	conns connCounter

	mu   sync.Mutex
	recs []wsRecord
}

func newRecordingResponder(t *testing.T, comp compression) *recordingResponder {
	h := &recordingResponder{goResponder: newGoResponder(t), comp: comp}
	h.srv = httptest.NewUnstartedServer(h)
	h.srv.Config.ConnContext = h.conns.connContext
	h.srv.Config.Protocols = new(http.Protocols)
	h.srv.Config.Protocols.SetHTTP1(true)
	h.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

func (h *recordingResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.wg.Add(1)
	defer h.wg.Done()
	h.conns.request(r)
	rec := newWSRecord(r, r.URL.Path)
	var lastPong atomic.Value // hex payload of the last pong received
	opts := responderOptions(&lastPong)
	h.comp.apply(&opts.ConnOptions)
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		h.t.Errorf("responder: %v", err)
		return
	}
	// Over HTTP/2 the WebSocket is the request's stream: return only once
	// it is done.
	defer func() {
		c.CloseNow()
		<-c.Done()
	}()
	conn := h.opened(c)
	pc, err := h.serve(c, conn, &lastPong)
	if err != nil {
		h.t.Errorf("responder, connection %d: %v", conn, err)
		rec.Err = err.Error()
		c.CloseNow()
	}
	rec.PeerClose = &closeRecord{Code: pc.code, Reason: pc.reason}
	rec.TCPConns, rec.RequestConns = h.conns.accepted(), h.conns.withRequests()
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	// Last: the session's close check waits for this.
	h.closed(conn, pc)
}

func (h *recordingResponder) records() []wsRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wsRecord(nil), h.recs...)
}

// probeListener answers HAProxy's health checks with 200: ready is closed
// at the first one. It returns the port.
func probeListener(t *testing.T) (ready chan struct{}, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready = make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				once.Do(func() { close(ready) })
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ready, ln.Addr().(*net.TCPAddr).Port
}

// writeCertPEM writes cert's chain and key as HAProxy's crt file.
func writeCertPEM(t *testing.T, path string, cert tls.Certificate) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, der := range cert.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
