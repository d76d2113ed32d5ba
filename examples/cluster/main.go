// Cluster is a chat server that runs as several processes, on one machine
// or many, with NATS carrying every message between them and a load
// balancer spreading the WebSocket clients over them.
//
//	go run .                                # one server, NATS embedded
//	go run . -addr :8081 -nats nats://nats1:4222,nats://nats2:4222
//	go run . -addr :8081 -node a -cluster :6222 -routes nats://hostb:6222,nats://hostc:6222
//
// The page at / is the chat client; it connects to /ws?room=ROOM&name=NAME.
// Every message a member sends reaches every member of its room, on
// whichever server each is connected to, the sender included; members
// hear of each other's joins and departures. The protocol is described in
// protocol.go, the bus in bus.go, the fan-out and the slow-consumer policy
// in hub.go, presence in presence.go. GET /healthz reports the server's
// members and the servers it hears from.
//
// By default the server embeds a NATS server and needs nothing else. With
// -cluster, the embedded servers of several processes connect to each
// other (-routes) into one NATS cluster, so no broker process is needed
// and none can be lost. With -nats, the server joins an existing NATS
// deployment instead and embeds nothing.
//
// Delivery is at most once, and in order per sender (see README.md for
// why): a member that is disconnected misses what is said meanwhile.
//
// Once the listener is ready, it prints "listening on http://ADDR" to
// standard output. On SIGINT or SIGTERM it stops accepting, closes every
// connection with 1001 (going away) so that clients reconnect to another
// server, tells the other servers, and exits.
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
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed index.html
var page []byte

func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

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
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// nodePattern is what a server's name may be: one NATS subject token.
var nodePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen for WebSocket clients on `host:port`")
	node := fs.String("node", defaultNode(), "this server's `name`, unique in the cluster")
	var bc busConfig
	fs.StringVar(&bc.natsURL, "nats", "", "use the NATS at these comma-separated `urls` instead of embedding one")
	fs.StringVar(&bc.clientListen, "nats-listen", "", "let NATS clients reach the embedded server at `host:port` (default: in-process only)")
	fs.StringVar(&bc.clusterListen, "cluster", "", "accept routes from other servers' embedded NATS at `host:port`, forming a cluster")
	fs.StringVar(&bc.routes, "routes", "", "comma-separated `urls` (nats://host:port) of the other servers' -cluster addresses")
	fs.StringVar(&bc.clusterName, "cluster-name", "chat", "NATS cluster `name`")
	fs.StringVar(&bc.prefix, "subject-prefix", "chat", "NATS subject `prefix` for this service")
	fs.BoolVar(&bc.natsLog, "nats-log", false, "log the embedded NATS server's notices")
	opts := hubOptions{}
	fs.IntVar(&opts.sendQueue, "send-queue", 256, "drop a client with more than `n` messages sent to it and not yet read")
	fs.DurationVar(&opts.maxLag, "max-lag", 10*time.Second, "drop a client that has not read a message this `long` after it was sent")
	fs.DurationVar(&opts.heartbeat, "heartbeat", time.Second, "announce this server's members every `period`; a server silent for 3 is gone")
	origins := fs.String("origins", "", "comma-separated origin `patterns` of pages served elsewhere that may connect")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !nodePattern.MatchString(*node) {
		return fmt.Errorf("-node %q: use 1 to 64 of A-Z a-z 0-9 _ -", *node)
	}
	if bc.natsURL != "" && (bc.clusterListen != "" || bc.routes != "" || bc.clientListen != "") {
		return errors.New("-nats uses an external NATS: -cluster, -routes and -nats-listen are for the embedded one")
	}
	if opts.sendQueue < 1 || opts.maxLag <= 0 || opts.heartbeat <= 0 {
		return errors.New("-send-queue, -max-lag and -heartbeat must be positive")
	}
	opts.node, bc.node = *node, *node
	opts.probeEvery = max(opts.sendQueue/8, 1)
	if *origins != "" {
		opts.originPatterns = strings.Split(*origins, ",")
	}
	logger := log.New(stderr, *node+": ", log.LstdFlags|log.Lmicroseconds)

	b, err := openBus(bc, logger)
	if err != nil {
		return err
	}
	h, err := newHub(opts, b, logger)
	if err != nil {
		b.close()
		return err
	}
	defer h.poller.Close()
	defer b.close()
	if err := b.subscribe(h.onBus); err != nil {
		return err
	}
	hbCtx, stopHeartbeats := context.WithCancel(context.Background())
	var heartbeats sync.WaitGroup
	heartbeats.Go(func() { h.heartbeatLoop(hbCtx) })
	defer func() {
		stopHeartbeats()
		heartbeats.Wait()
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	logger.Print("shutting down")
	// Refuse new clients first: the load balancer sends them elsewhere.
	// stopHTTP knows nothing of hijacked connections: the hub closes those.
	err = stopHTTP(srv, time.Second)
	<-served
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(err, h.shutdown(shutdownCtx, func() {
		stopHeartbeats()
		heartbeats.Wait()
	}))
	logger.Print("stopped")
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

// defaultNode names the server after the host and the process.
func defaultNode() string {
	host, _ := os.Hostname()
	host = regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(host, "-")
	if len(host) > 40 {
		host = host[:40]
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
