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
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fullduplex/websocket"
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

// run serves until SIGINT or SIGTERM. It returns its errors rather than
// exiting, so that the built client is removed on every path.
func run(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	dir, err := os.MkdirTemp("", "wasm-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h, err := newHandler(dir)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", l.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// newHandler builds the client into dir and returns the server's routes.
func newHandler(dir string) (http.Handler, error) {
	wasm, err := buildClient(dir)
	if err != nil {
		return nil, err
	}
	glue, err := wasmExecJS()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.HandleFunc("/main.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, glue)
	})
	mux.HandleFunc("/ws", echo)
	return mux, nil
}

// echo answers every message with "echo: " and the message.
func echo(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{Subprotocols: []string{"echo.v1"}}
	opts.WriteTimeout = 10 * time.Second // a page that stops reading is dropped
	opts.PingInterval = 30 * time.Second // keeps an idle link open through proxies
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
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
