package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/fullduplex/websocket/internal/bpool"
)

// This file connects a client to its server: TCP, an HTTP proxy's
// CONNECT tunnel, TLS.

// dialTransport connects to the server, through a proxy if one applies,
// and performs TLS for wss.
func dialTransport(ctx context.Context, req *http.Request, opts *DialOptions) (net.Conn, error) {
	dialFn := opts.NetDialContext
	if dialFn == nil {
		var d net.Dialer
		dialFn = d.DialContext
	}
	proxyFn := opts.Proxy
	if proxyFn == nil {
		proxyFn = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFn(req)
	if err != nil {
		return nil, fmt.Errorf("failed to choose proxy: %w", err)
	}
	target := hostPort(req.URL)
	var nc net.Conn
	if proxyURL != nil {
		nc, err = dialProxy(ctx, dialFn, proxyURL, target, opts)
	} else {
		nc, err = dialFn(ctx, "tcp", target)
	}
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" {
		tc, err := tlsHandshake(ctx, nc, req.URL.Hostname(), opts.TLSConfig)
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return nc, nil
}

func tlsHandshake(ctx context.Context, nc net.Conn, serverName string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	// HTTP/2 has no Upgrade; the WebSocket handshake needs HTTP/1.1.
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", serverName, err)
	}
	return tc, nil
}

// dialProxy opens a tunnel to target through an HTTP or HTTPS proxy with
// CONNECT. The body of a refusal is not read: it would only delay Dial.
func dialProxy(ctx context.Context, dialFn func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, target string, opts *DialOptions) (net.Conn, error) {
	if proxyURL.Scheme != "http" && proxyURL.Scheme != "https" {
		return nil, fmt.Errorf("unsupported proxy scheme %q", proxyURL.Scheme)
	}
	nc, err := dialFn(ctx, "tcp", hostPort(proxyURL))
	if err != nil {
		return nil, fmt.Errorf("failed to reach proxy %s: %w", proxyURL.Host, err)
	}
	fail := func(err error) (net.Conn, error) {
		nc.Close()
		return nil, err
	}
	if proxyURL.Scheme == "https" {
		tc, err := tlsHandshake(ctx, nc, proxyURL.Hostname(), opts.TLSConfig)
		if err != nil {
			return fail(fmt.Errorf("proxy: %w", err))
		}
		nc = tc
	}
	stop := watchHandshake(ctx, nc)
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	b.WriteString("\r\n")
	connectReq := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}}
	var resp *http.Response
	if _, err = io.WriteString(nc, b.String()); err == nil {
		bufp := bpool.GetRead()
		var data []byte
		var head int
		data, head, _, err = readFinalHead(nc, *bufp, opts.maxResponseHeaderBytes(), "proxy's CONNECT")
		if err == nil {
			// Only the head is parsed: a 2xx answer to CONNECT has no body
			// whatever its header says (RFC 9110, section 9.3.6), and the
			// body of a refusal is not wanted.
			resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:head])), connectReq)
		}
		if err == nil && isSuccess(resp.StatusCode) && len(data) > head {
			err = errors.New("proxy sent data before the tunnel was used")
		}
		bpool.PutRead(bufp)
	}
	if stop() || (err != nil && ctxDone(ctx) != nil) {
		return fail(fmt.Errorf("proxy CONNECT: %w", ctxDone(ctx)))
	}
	if err != nil {
		return fail(fmt.Errorf("proxy CONNECT to %s: %w", target, err))
	}
	if !isSuccess(resp.StatusCode) {
		return fail(&HandshakeError{Status: resp.StatusCode, Reason: fmt.Sprintf("proxy %s refused CONNECT to %s: %s", proxyURL.Host, target, resp.Status)})
	}
	return nc, nil
}

// isSuccess reports a 2xx status: any of them opens a CONNECT tunnel (RFC
// 9110, section 9.3.6), though proxies send 200.
func isSuccess(status int) bool { return status >= 200 && status <= 299 }
