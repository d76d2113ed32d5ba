package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The bus carries every event between the servers: NATS core publish and
// subscribe, at most once. By default each server embeds a NATS server
// and talks to it in process; with -cluster the embedded servers connect
// to each other with routes and form one NATS cluster, so there is no
// broker process to run or lose. With -nats the server is only a NATS
// client of an existing deployment.
//
// Subjects, under -subject-prefix (default "chat"):
//
//	chat.room.ROOM.msg    a chat message in ROOM
//	chat.room.ROOM.join   a member joined ROOM
//	chat.room.ROOM.leave  a member left ROOM
//	chat.node.NODE        NODE's heartbeat, with its members
//
// Each server subscribes once to chat.> and sees every room. That keeps a
// new member's first messages free of any wait for NATS interest to
// spread across the cluster, at the price of every server receiving every
// room; with many rooms spread thinly over many servers, subscribe per
// room instead (see README.md).

// busConfig says which NATS to use.
type busConfig struct {
	node   string
	prefix string

	// natsURL, when set, names an external NATS (comma-separated URLs);
	// nothing is embedded.
	natsURL string

	// For the embedded server:
	clientListen  string // host:port for NATS clients; empty: in-process only
	clusterListen string // host:port for routes from the other servers; empty: no cluster
	clusterName   string
	routes        string // comma-separated nats://host:port of the other servers
	natsLog       bool   // log the embedded server's notices, not only its warnings
}

// bus is a NATS connection and, unless external, the server it talks to.
type bus struct {
	prefix string
	ns     *server.Server // nil with an external NATS
	nc     *nats.Conn
	sub    *nats.Subscription
	log    *log.Logger
}

// openBus starts the embedded NATS server, if any, and connects to NATS.
func openBus(cfg busConfig, logger *log.Logger) (_ *bus, err error) {
	b := &bus{prefix: cfg.prefix, log: logger}
	opts := []nats.Option{
		nats.Name(cfg.node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Printf("nats: disconnected: %v", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Printf("nats: reconnected to %s", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// nats.ErrSlowConsumer: this server fell so far behind the
			// bus that NATS dropped events for it (at most once).
			logger.Printf("nats: %v", err)
		}),
	}
	url := cfg.natsURL
	if url == "" {
		b.ns, err = startEmbedded(cfg, logger)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				b.ns.Shutdown()
			}
		}()
		url = b.ns.ClientURL()
		opts = append(opts, nats.InProcessServer(b.ns))
	}
	b.nc, err = nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return b, nil
}

// startEmbedded starts a NATS server in this process.
func startEmbedded(cfg busConfig, logger *log.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: cfg.node,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		// Alone, the server needs no listener: we talk to it in process.
		// Routes start only once a client listener is up, so a member of
		// a cluster keeps one, on a random loopback port.
		DontListen: cfg.clientListen == "" && cfg.clusterListen == "",
		NoSigs:     true, // the signals are ours
	}
	if cfg.clientListen != "" {
		host, port, err := splitHostPort(cfg.clientListen)
		if err != nil {
			return nil, fmt.Errorf("-nats-listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.clusterListen != "" {
		host, port, err := splitHostPort(cfg.clusterListen)
		if err != nil {
			return nil, fmt.Errorf("-cluster: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.clusterName, Host: host, Port: port}
		if cfg.routes != "" {
			opts.Routes = server.RoutesFromStr(cfg.routes)
		}
	} else if cfg.routes != "" {
		return nil, errors.New("-routes needs -cluster")
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{logger, cfg.natsLog}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server: not ready after 10s")
	}
	return ns, nil
}

func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// subscribe calls fn for every event under the prefix, in the order NATS
// delivers them, on one goroutine.
func (b *bus) subscribe(fn func(subject string, data []byte)) error {
	sub, err := b.nc.Subscribe(b.prefix+".>", func(m *nats.Msg) {
		fn(strings.TrimPrefix(m.Subject, b.prefix+"."), m.Data)
	})
	if err != nil {
		return fmt.Errorf("subscribe to NATS: %w", err)
	}
	b.sub = sub
	// Until this returns, the local NATS server may not know of the
	// subscription yet.
	if err := b.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to NATS: %w", err)
	}
	return nil
}

// publish sends data on subject (without the prefix). It does not wait:
// nats.go buffers it, and keeps buffering while reconnecting.
func (b *bus) publish(subject string, data []byte) {
	if err := b.nc.Publish(b.prefix+"."+subject, data); err != nil {
		b.log.Printf("nats: publish %s: %v", subject, err)
	}
}

// flush waits until the NATS server has everything published so far.
func (b *bus) flush() error {
	return b.nc.FlushTimeout(5 * time.Second)
}

// routes reports the number of route connections of the embedded server.
func (b *bus) routes() int {
	if b.ns == nil {
		return 0
	}
	return b.ns.NumRoutes()
}

// close stops the subscription, sends what is buffered, and shuts the
// embedded server down.
func (b *bus) close() {
	if b.sub != nil {
		b.sub.Unsubscribe()
	}
	b.nc.FlushTimeout(5 * time.Second)
	b.nc.Close()
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}

// natsLogger sends the embedded server's log to ours: warnings and errors
// always, notices with -nats-log.
type natsLogger struct {
	l       *log.Logger
	notices bool
}

func (n natsLogger) Noticef(format string, v ...any) {
	if n.notices {
		n.l.Printf("nats: "+format, v...)
	}
}
func (n natsLogger) Warnf(format string, v ...any)  { n.l.Printf("nats: warning: "+format, v...) }
func (n natsLogger) Fatalf(format string, v ...any) { n.l.Printf("nats: fatal: "+format, v...) }
func (n natsLogger) Errorf(format string, v ...any) { n.l.Printf("nats: error: "+format, v...) }
func (n natsLogger) Debugf(string, ...any)          {}
func (n natsLogger) Tracef(string, ...any)          {}
