package suite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// caseDeadline is how long a case may run at most: its longest designed
// wait plus the time the closing handshake may take.
func caseDeadline(c *Case) time.Duration {
	return c.limit + 15*time.Second
}

// ClientCase describes one run of a case by the fuzzing client.
type ClientCase struct {
	// URL is the WebSocket URL of the server under test.
	URL string
	// Agent names the server in the result; empty means its Server
	// header, or "UnknownServer".
	Agent string
	// Origin, if set, is sent in the Origin header.
	Origin string
	// Protocols, if set, are offered as subprotocols.
	Protocols []string
	// Exclude, if set, reports cases to skip for an agent (the case still
	// connects, then closes without a result, as Autobahn does).
	Exclude func(agent, id string) bool
	// HTTP2 runs every case on a WebSocket over HTTP/2 (RFC 8441): an
	// extended CONNECT stream of an HTTP/2 connection opened for the case,
	// h2c with prior knowledge for ws:// URLs, TLS with ALPN for wss://.
	HTTP2 bool
}

// RunCase runs the case with the given ID as the fuzzing client against a
// server and returns its result. The result is nil when the case was
// excluded for the agent; the error is set when the connection could not
// be made.
func RunCase(ctx context.Context, cc ClientCase, id string, opts Options) (*Result, error) {
	c := Lookup(id)
	if c == nil {
		return nil, fmt.Errorf("unknown case %q", id)
	}
	u, err := url.Parse(cc.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("URL %s: scheme must be ws or wss", cc.URL)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.stretch(caseDeadline(c)))
	defer cancel()

	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	if cc.HTTP2 {
		return runCaseH2(ctx, cc, c, id, u, host, opts)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}

	s := newSession(conn, false, opts)
	s.setCase(c, caseNumber(id))
	s.agent = cc.Agent
	s.exclude = cc.Exclude
	var res *Result
	s.onResult = func(r *Result) { res = r }
	s.run(ctx, func() {
		s.connectionMade()
		s.sendClientHandshake(u, cc.Origin, cc.Protocols)
	})
	return res, nil
}

// RunCases runs cases as the fuzzing client, up to parallel at a time (1
// runs them one after the other, as Autobahn does). Results come back in
// the order of ids; excluded cases are left out. After a connection error
// it starts no further case, lets those running finish, and returns the
// error with the results it has.
func RunCases(ctx context.Context, cc ClientCase, ids []string, opts Options, parallel int) ([]*Result, error) {
	parallel = max(1, parallel)
	results := make([]*Result, len(ids))
	errs := make([]error, len(ids))
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	sem := make(chan struct{}, parallel)
	for i, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// Cases already running finish; no new one starts.
		if ctx.Err() != nil || failed.Load() {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := RunCase(ctx, cc, id, opts)
			results[i], errs[i] = r, err
			if err != nil {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	var out []*Result
	for _, r := range results {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}
