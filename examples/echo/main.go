// Echo is a WebSocket echo server with an in-browser client.
//
//	go run ./examples/echo [-addr host:port] [-tls] [-push INTERVAL] [-ping INTERVAL] [-compress]
//
// It serves a page at / that connects to the endpoint /ws. Every message
// sent to /ws is answered with "Server: Hello. You said: <message>", in a
// message of the same type. With -push, the server also sends
// "Server push <n> at <time>" to each client every INTERVAL on its own
// initiative, to show that either side may speak at any time. A heartbeat
// pings a client once it has been silent through a 30-second tick (-ping;
// 30 to 60 seconds after its last frame) and closes it with 1001 if no
// pong comes back in 30 seconds more: browsers answer pings by
// themselves, and the pings keep idle proxies and NATs from dropping the
// connection. With -tls it
// serves https and wss with a self-signed certificate generated at start,
// which browsers warn about.
//
// Once the listener is ready, it prints "listening on http://ADDR" to
// standard output. Connections and messages are logged to standard error.
// On SIGINT or SIGTERM it closes every WebSocket connection with 1001
// (going away) and exits.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fullduplex/websocket"
)

//go:embed index.html
var page []byte

// replyPrefix starts every reply.
const replyPrefix = "Server: Hello. You said: "

// writeTimeout bounds every write, so that a client that stops reading
// cannot hold a connection's goroutines forever.
const writeTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, let a second one kill the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then closes every WebSocket connection with
// 1001 (going away) and returns once all of them are gone.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen on `host:port`")
	useTLS := fs.Bool("tls", false, "serve https and wss with a self-signed certificate generated at start")
	push := fs.Duration("push", 0, "also send each client a message every `interval` (0: never)")
	ping := fs.Duration("ping", 30*time.Second, "ping a client after every `interval` of silence, and close it if no pong comes back (0: never)")
	compress := fs.Bool("compress", false, "accept permessage-deflate compression when the client offers it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *push < 0 {
		return fmt.Errorf("negative -push %v", *push)
	}
	if *ping < 0 {
		return fmt.Errorf("negative -ping %v", *ping)
	}
	logger := log.New(stderr, "", log.LstdFlags)
	// The default options check that the Origin of a browser is this
	// server, which is where the page comes from.
	opts := &websocket.AcceptOptions{}
	opts.PingInterval = *ping
	if *compress {
		// Context takeover compresses a stream of similar messages best,
		// at the price of a history of up to 32 KiB per direction kept
		// by each connection (compressors are pooled, taken only while a
		// message moves).
		opts.Compression.Mode = websocket.CompressionContextTakeover
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if *useTLS {
		cert, err := selfSignedCert(*addr)
		if err != nil {
			ln.Close()
			return err
		}
		logger.Printf("generated a self-signed certificate for %v %v, SHA-256 %X",
			cert.Leaf.DNSNames, cert.Leaf.IPAddresses, sha256.Sum256(cert.Leaf.Raw))
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			// Browsers open WebSockets over HTTP/1.1 unless the server
			// offers RFC 8441 over HTTP/2, which this server does not.
			NextProtos: []string{"http/1.1"},
		})
		scheme = "https"
	}

	s := newServer(logger, opts, *push)
	srv := &http.Server{
		Handler:           s,
		ErrorLog:          logger,
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, displayAddr(*addr, ln.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
		logger.Print("shutting down")
	}
	// stopHTTP stops the listener and waits for plain HTTP requests, but it
	// knows nothing of hijacked connections: s.shutdown closes those.
	err = stopHTTP(srv, time.Second)
	if serveErr == nil {
		<-served // http.ErrServerClosed
	} else {
		err = serveErr
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.shutdown(closeCtx)
	return err
}

// stopHTTP closes the listener, lets plain HTTP requests in progress finish
// within grace, then closes every connection left. Shutdown alone would
// count a connection on which no request has arrived yet as busy for its
// first 5 seconds, and browsers open such connections ahead of need: waiting
// on them would hold up the exit for nothing.
func stopHTTP(srv *http.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	return err
}

// displayAddr returns the address to print: the host as given, so that the
// printed URL matches what the user asked for, with the port actually bound.
func displayAddr(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	tcp, ok := bound.(*net.TCPAddr)
	if err != nil || !ok {
		return bound.String()
	}
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// server serves the page at / and the WebSocket endpoint at /ws.
type server struct {
	log  *log.Logger
	opts *websocket.AcceptOptions // with Group set to &conns
	push time.Duration
	mux  *http.ServeMux

	conns    websocket.Group // the WebSocket connections, to close on shutdown
	handlers sync.WaitGroup  // the handlers of /ws
}

// newServer returns a server that accepts WebSocket connections with opts,
// which it modifies.
func newServer(logger *log.Logger, opts *websocket.AcceptOptions, push time.Duration) *server {
	s := &server{
		log:  logger,
		opts: opts,
		push: push,
		mux:  http.NewServeMux(),
	}
	opts.Group = &s.conns
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("/ws", s.serveWS)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	// Handlers go on after http.Server.Shutdown, which forgets hijacked
	// connections; shutdown waits for them.
	s.handlers.Add(1)
	defer s.handlers.Done()
	c, err := websocket.Accept(w, r, s.opts)
	if err != nil {
		// Accept has answered already: 400 for a plain GET, for example.
		s.log.Printf("%s: handshake refused: %v", r.RemoteAddr, err)
		return
	}
	defer c.CloseNow()
	s.log.Printf("%s: connection established", r.RemoteAddr)
	err = s.echo(c, r.RemoteAddr)
	s.log.Printf("%s: connection closed %s", r.RemoteAddr, describeEnd(err))
}

// shutdown closes every WebSocket connection with 1001 (going away) and
// waits for their handlers to finish. New connections are refused from
// then on.
func (s *server) shutdown(ctx context.Context) {
	s.conns.Shutdown(ctx, "server shutting down")
	s.handlers.Wait()
}

// echo answers every message on c until the connection ends, and pushes
// messages meanwhile if asked to. It returns the error that ended it.
func (s *server) echo(c *websocket.Conn, remote string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if s.push > 0 {
		pushed := make(chan struct{})
		go func() {
			defer close(pushed)
			s.pushLoop(ctx, c, remote)
		}()
		defer func() {
			cancel()
			<-pushed
		}()
	}
	// msg and reply are reused from one message to the next, so that their
	// buffers are not allocated again for every message; but not once a
	// large message grew them, which an idle connection would then keep.
	var msg, reply []byte
	for {
		typ, p, err := c.ReadAppend(ctx, msg[:0])
		if err != nil {
			return err
		}
		msg = p
		s.log.Printf("%s: message received: %s", remote, describe(typ, msg))
		reply = append(append(reply[:0], replyPrefix...), msg...)
		if err := write(ctx, c, typ, reply); err != nil {
			return err
		}
		s.log.Printf("%s: message sent: %s", remote, describe(typ, reply))
		msg, reply = keepSmall(msg), keepSmall(reply)
	}
}

// maxKept bounds the buffers echo keeps between messages.
const maxKept = 64 << 10

// keepSmall returns b emptied for reuse, or nil if it grew past maxKept.
func keepSmall(b []byte) []byte {
	if cap(b) > maxKept {
		return nil
	}
	return b[:0]
}

// pushLoop sends a message every s.push until ctx ends or a write fails.
func (s *server) pushLoop(ctx context.Context, c *websocket.Conn, remote string) {
	tick := time.NewTicker(s.push)
	defer tick.Stop()
	for n := 1; ; n++ {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		msg := []byte(fmt.Sprintf("Server push %d at %s", n, now.Format(time.TimeOnly)))
		if err := write(ctx, c, websocket.MessageText, msg); err != nil {
			// The reading side may not notice a broken connection until
			// the peer speaks; make sure it does.
			c.CloseNow()
			return
		}
		s.log.Printf("%s: message sent: %s", remote, describe(websocket.MessageText, msg))
	}
}

func write(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, p []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(ctx, typ, p)
}

// describe summarizes a message for the log, shortening long ones.
func describe(typ websocket.MessageType, p []byte) string {
	const maxShown = 64
	if typ == websocket.MessageBinary {
		return fmt.Sprintf("binary, %d bytes", len(p))
	}
	if len(p) > maxShown {
		return fmt.Sprintf("text, %d bytes: %q…", len(p), p[:maxShown])
	}
	return fmt.Sprintf("text, %d bytes: %q", len(p), p)
}

// describeEnd says how a connection ended, for the log.
func describeEnd(err error) string {
	var ce *websocket.CloseError
	var pe *websocket.ProtocolError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("with code %v %q", ce.Code, ce.Reason)
	case errors.As(err, &pe):
		return fmt.Sprintf("by the server with code %v: %s", pe.Code, pe.Reason)
	}
	return fmt.Sprintf("without a close code: %v", err)
}

// selfSignedCert makes an ECDSA P-256 certificate for localhost, 127.0.0.1,
// ::1 and the host of addr.
func selfSignedCert(addr string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		// A nil SerialNumber makes CreateCertificate pick a random one.
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		// An hour of leeway for clocks that disagree.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" && host != "localhost" {
		ip := net.ParseIP(host)
		switch {
		case ip == nil:
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		case !ip.IsUnspecified() && !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal):
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
