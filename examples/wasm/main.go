//go:build !js

// Wasm serves a page whose Go program, compiled to WebAssembly, talks to
// this server with websocket.Dial (the browser's WebSocket underneath).
//
//	go run ./examples/wasm [-addr host:port]
//
// At start it builds ./client with GOOS=js GOARCH=wasm (so the go command
// must be on the PATH), then serves the page at /, the program at
// /main.wasm, the Go distribution's wasm_exec.js at /wasm_exec.js and an
// echo endpoint at /ws. It prints "listening on http://ADDR" once ready.
// Open that address in a browser.
//
// The page and the files answer GET and HEAD, the endpoint GET (the
// opening handshake); other methods are refused with 405 (Method Not
// Allowed) and an Allow header. On SIGINT or SIGTERM the server stops
// accepting, closes every WebSocket connection with 1001 (going away),
// waits up to 5 seconds for the closing handshakes and exits; a second
// signal exits at once.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fullduplex/websocket"
)

//go:embed index.html
var page []byte

const (
	// shutdownTimeout bounds the closing handshakes at shutdown; a peer
	// that has not answered by then is cut off.
	shutdownTimeout = 5 * time.Second
	// httpGrace is how long plain HTTP requests in progress at shutdown
	// get to finish.
	httpGrace = time.Second
)

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
		fmt.Fprintln(os.Stderr, "wasm:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then closes every WebSocket connection with
// 1001 (going away) and returns once all of them are gone: within
// httpGrace and shutdownTimeout after ctx ended. It returns its errors
// rather than exiting, so that the built client is removed on every path.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wasm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen on `host:port`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	dir, err := os.MkdirTemp("", "wasm-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := log.New(stderr, "", log.LstdFlags)
	s, err := newServer(logger, dir)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
		logger.Print("shutting down")
	}
	// The listener first, so that no connection comes in while the
	// WebSockets are closed; stopHTTP knows nothing of those (hijacked),
	// s.shutdown closes them.
	err = stopHTTP(srv, httpGrace)
	if serveErr == nil {
		<-served // http.ErrServerClosed
	} else {
		err = serveErr
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.shutdown(closeCtx); err != nil {
		// Peers that did not answer the close in time were cut off: theirs
		// is the fault, not the server's.
		logger.Printf("closing handshakes cut short: %v", err)
	}
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

// server serves the page, the client and its glue, and the echo endpoint.
type server struct {
	log *log.Logger
	mux *http.ServeMux

	conns websocket.Group // the WebSocket connections, to close on shutdown

	mu       sync.Mutex
	closing  bool           // set by shutdown: no handler of /ws starts after it
	handlers sync.WaitGroup // the handlers of /ws
}

// newServer builds the client into dir and returns the server's routes.
func newServer(logger *log.Logger, dir string) (*server, error) {
	wasm, err := buildClient(dir)
	if err != nil {
		return nil, err
	}
	glue, err := wasmExecJS()
	if err != nil {
		return nil, err
	}
	s := &server{log: logger, mux: http.NewServeMux()}
	// A GET pattern also matches HEAD; the mux answers other methods
	// with 405 and an Allow header.
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	s.mux.HandleFunc("GET /main.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	s.mux.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, glue)
	})
	// Any method: Accept refuses all but GET with 405 and "Allow: GET",
	// HEAD included, which a GET pattern would let through.
	s.mux.HandleFunc("/ws", s.echo)
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// enter counts a handler of /ws in, unless shutdown has begun.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// shutdown closes every WebSocket connection with 1001 (going away),
// waits for the closing handshakes, bounded by ctx, and then for the
// handlers of /ws to return. Connections are refused from then on.
func (s *server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	err := s.conns.Shutdown(ctx, "server shutting down")
	s.handlers.Wait()
	return err
}

// echo answers every message with "echo: " and the message.
func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.Done()
	opts := &websocket.AcceptOptions{Subprotocols: []string{"echo.v1"}}
	opts.WriteTimeout = 10 * time.Second // a page that stops reading is dropped
	opts.PingInterval = 30 * time.Second // keeps an idle link open through proxies
	opts.Group = &s.conns                // closed with 1001 at shutdown
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		s.log.Printf("%s: handshake refused: %v", r.RemoteAddr, err)
		return
	}
	defer c.CloseNow()
	// The connection's end stops the loop: at shutdown the group closes
	// it (net/http cancels no context of a hijacked connection).
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
			return
		}
	}
}

// buildClient compiles ./client, next to this file, to dir/main.wasm.
func buildClient(dir string) (string, error) {
	out := filepath.Join(dir, "main.wasm")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = clientDir()
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the wasm client: %v\n%s", err, msg)
	}
	return out, nil
}

// clientDir finds ./client whether the server runs from the repository's
// root (go run ./examples/wasm), from its own directory (go test), or
// elsewhere on the machine that built it (next to this file's source).
func clientDir() string {
	dirs := []string{"client", filepath.Join("examples", "wasm", "client")}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "client"))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "main.go")); err == nil {
			return d
		}
	}
	return "client"
}

// wasmExecJS returns the path of the JavaScript glue of the Go
// distribution that built the client: lib/wasm since Go 1.24.
func wasmExecJS() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(out))
	for _, p := range []string{filepath.Join(root, "lib", "wasm", "wasm_exec.js"), filepath.Join(root, "misc", "wasm", "wasm_exec.js")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no wasm_exec.js under %s", root)
}
