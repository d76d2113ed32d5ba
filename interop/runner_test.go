package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// dialSession dials url with our client, runs one session and returns the
// connection (closed by then) and the peer's hello.
func dialSession(t *testing.T, url string, protocols []string, spec sessionSpec, comp compression, base *websocket.DialOptions, watch closeWatcher) (*websocket.Conn, ctrl, bool) {
	t.Helper()
	pings := make(chan []byte, 16)
	var opts websocket.DialOptions
	if base != nil {
		opts = *base
	}
	opts.ConnOptions = driverOptions(pingRecorder(pings))
	comp.apply(&opts.ConnOptions)
	opts.Subprotocols = protocols
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &opts)
	if err != nil {
		t.Errorf("dialing %s: %v", url, err)
		return nil, ctrl{}, false
	}
	s := newSession(t, c, spec, pings)
	hello := s.run(watch)
	comp.checkNegotiated(t, hello)
	return c, hello, true
}

// pingRecorder is an OnPing hook that keeps a copy of each payload.
func pingRecorder(pings chan []byte) func([]byte) {
	return func(p []byte) {
		select {
		case pings <- bytes.Clone(p):
		default:
		}
	}
}

// serverJob is the session our server runs for the next connection.
type serverJob struct {
	spec  sessionSpec
	watch closeWatcher
	done  chan ctrl // the peer's hello, once the session is over
}

// serverReads is how our server reads its connections.
type serverReads int

const (
	// readsGoroutine: a goroutine per connection blocked in Read.
	readsGoroutine serverReads = iota
	// readsPoller: a websocket.Poller reads the connections and calls
	// back with each message.
	readsPoller
)

// label is what the direction of a row adds for the mode.
func (m serverReads) label() string {
	if m == readsPoller {
		return " (Poller)"
	}
	return ""
}

// pollerMaxSize is the largest message of the compressed sessions our
// server runs in Poller mode: the 16 MiB messages go through the Poller
// uncompressed, and compressed in the goroutine-per-connection rows; the
// compressed ones only add time on top.
const pollerMaxSize = 1 << 20

// driverServer is our server: each connection runs the next job.
type driverServer struct {
	t      *testing.T
	comp   compression
	jobs   chan *serverJob
	srv    *httptest.Server
	poller *connPoller // nil unless the server reads in Poller mode
}

// newDriverServer starts our server on 127.0.0.1, over TLS if tls is set.
// mux, if not nil, gets the WebSocket endpoint at /ws and serves the rest.
func newDriverServer(t *testing.T, comp compression, tls bool, mux *http.ServeMux, reads serverReads) *driverServer {
	d := &driverServer{t: t, comp: comp, jobs: make(chan *serverJob, 1)}
	if reads == readsPoller {
		d.poller = newConnPoller(t)
	}
	if mux == nil {
		mux = http.NewServeMux()
	}
	mux.Handle("/ws", d)
	if tls {
		d.srv = httptest.NewTLSServer(mux)
	} else {
		d.srv = httptest.NewServer(mux)
	}
	t.Cleanup(d.srv.Close)
	return d
}

// url returns the WebSocket URL of the endpoint.
func (d *driverServer) url() string {
	u := d.srv.URL + "/ws"
	if d.srv.TLS != nil {
		return "wss" + u[len("https"):]
	}
	return "ws" + u[len("http"):]
}

func (d *driverServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The test queues the job right after starting the peer, which may
	// connect first.
	var job *serverJob
	select {
	case job = <-d.jobs:
	case <-time.After(10 * time.Second):
		d.t.Errorf("unexpected connection from %s", r.RemoteAddr)
		http.Error(w, "no session expected", http.StatusServiceUnavailable)
		return
	}
	var hello ctrl
	defer func() { job.done <- hello }()
	pings := make(chan []byte, 16)
	opts := &websocket.AcceptOptions{
		ConnOptions:  driverOptions(pingRecorder(pings)),
		Subprotocols: serverProtocols,
	}
	d.comp.apply(&opts.ConnOptions)
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		d.t.Errorf("Accept: %v", err)
		return
	}
	s := newSession(d.t, c, job.spec, pings)
	s.poller = d.poller
	hello = s.run(job.watch)
	d.comp.checkNegotiated(d.t, hello)
}

// expect queues the session for the next connection; wait waits for it.
func (d *driverServer) expect(spec sessionSpec, watch closeWatcher) *serverJob {
	job := &serverJob{spec: spec, watch: watch, done: make(chan ctrl, 1)}
	d.jobs <- job
	return job
}

func (job *serverJob) wait(t *testing.T) (ctrl, bool) {
	t.Helper()
	select {
	case hello := <-job.done:
		return hello, true
	case <-time.After(job.spec.timeout + 10*time.Second):
		t.Errorf("no session within %v", job.spec.timeout)
		return ctrl{}, false
	}
}

// programPeer is a peer program that speaks the session protocol.
type programPeer struct {
	name string // as in the results table
	// argv returns the command line for a mode ("client" or "server") and
	// its arguments, after checking that the program is installed.
	argv func(t *testing.T, args ...string) []string
}

// testPeerClient runs the peer as a client against our server, which
// reads as reads says: the main session and the short one, each in a fresh
// run of the program.
func testPeerClient(t *testing.T, p programPeer, comp compression, reads serverReads) {
	r := newRow(t, p.name, "peer client → our server"+reads.label(), comp.name)
	d := newDriverServer(t, comp, false, nil, reads)
	sessions := []struct {
		name      string
		protocols []string
		spec      sessionSpec
	}{
		{
			name:      "main",
			protocols: offeredProtocols,
			spec:      comp.session(mainSession("interop.v1")),
		},
		{
			// Node's ws fails the connection when the server picks none of
			// the subprotocols it offered, so this one offers none.
			name:      "short",
			protocols: nil,
			spec:      shortSession(""),
		},
	}
	if reads == readsPoller {
		r.addNote("a Poller's epoll loop reads our side")
		if comp.on() && sessions[0].spec.maxSize == 0 {
			sessions[0].spec.maxSize = pollerMaxSize
			r.addNote("messages up to 1 MiB (16 MiB compressed is checked in the row without Poller)")
		}
	}
	for _, s := range sessions {
		args := []string{"client", d.url()}
		if len(s.protocols) > 0 {
			args = append(args, "--protocols", joinComma(s.protocols))
		}
		args = append(args, comp.peerArgs()...)
		proc := startPeer(t, procSpec{name: p.name + "-client-" + s.name, dir: ".", argv: p.argv(t, args...)})
		job := d.expect(s.spec, proc.watchClose)
		hello, ok := job.wait(t)
		if !ok {
			return
		}
		r.setVersion(hello.Version)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := proc.wait(ctx)
		cancel()
		if err != nil {
			t.Error(err)
		}
		if err := proc.errorEvents(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
	}
	comp.finish(t, r)
}

// testPeerServer runs our client against the peer as a server.
func testPeerServer(t *testing.T, p programPeer, comp compression) {
	r := newRow(t, p.name, "our client → peer server", comp.name)
	args := append([]string{"server"}, comp.peerArgs()...)
	proc := startPeer(t, procSpec{name: p.name + "-server", dir: ".", argv: p.argv(t, args...)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ev, _, err := proc.waitEvent(ctx, 0, "listening", func(ev peerEvent) bool { return ev.Event == "listening" })
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	r.setVersion(ev.Version)
	url := fmt.Sprintf("ws://127.0.0.1:%d/interop", ev.Port)
	if _, _, ok := dialSession(t, url, offeredProtocols, comp.session(mainSession("interop.v1")), comp, nil, proc.watchClose); !ok || t.Failed() {
		return
	}
	// The server picks none of the subprotocols offered.
	if _, _, ok := dialSession(t, url, unknownProtocols, shortSession(""), comp, nil, proc.watchClose); !ok || t.Failed() {
		return
	}
	proc.stop()
	if err := proc.wait(context.Background()); err != nil {
		t.Error(err)
	}
	if err := proc.errorEvents(); err != nil {
		t.Error(err)
	}
	comp.finish(t, r)
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}
