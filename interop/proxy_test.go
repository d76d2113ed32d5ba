package interop

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// proxied runs the main and the short session from our client through a
// proxy to our own server (a responder at backend), and checks that the
// connections really went through the proxy: the server sees another
// remote address than the client's local one.
func proxied(t *testing.T, backend *httptest.Server, responder responder, target string, base *websocket.DialOptions) {
	t.Helper()
	sessions := []struct {
		name      string
		protocols []string
		spec      sessionSpec
	}{
		{
			name:      "main",
			protocols: offeredProtocols,
			spec:      mainSession("interop.v1"),
		},
		{
			name:      "short",
			protocols: unknownProtocols,
			spec:      shortSession(""),
		},
	}
	for _, s := range sessions {
		c, hello, ok := dialSession(t, target, s.protocols, s.spec, compressionOff, base, responder.watchClose)
		if !ok || t.Failed() {
			return
		}
		if local, remote := c.LocalAddr().String(), responder.remote(hello.Conn); local == remote {
			t.Errorf("%s session: the server saw our own address %s: the connection bypassed the proxy", s.name, local)
		}
	}
}

// newBackend starts our server, answering the session protocol, reading
// its connections as reads says.
func newBackend(t *testing.T, tls bool, reads serverReads) (*httptest.Server, responder) {
	var responder responder
	if reads == readsPoller {
		responder = newPollResponder(t)
	} else {
		responder = newGoResponder(t)
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(responder)
	} else {
		srv = httptest.NewServer(responder)
	}
	t.Cleanup(srv.Close)
	return srv, responder
}

func wsURL(srv *httptest.Server) string {
	if srv.TLS != nil {
		return "wss" + strings.TrimPrefix(srv.URL, "https") + "/interop"
	}
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/interop"
}

func port(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// programVersion runs a program's version command and returns the first
// line of its output.
func programVersion(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

const nginxConf = `worker_processes 1;
pid {{dir}}/nginx.pid;
error_log stderr notice;
events {
    worker_connections 128;
}
http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    server {
        listen 127.0.0.1:{{port}};
        location / {
            proxy_pass http://127.0.0.1:{{backend}};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
        }
    }
}
`

// TestNginx runs our client against our server behind nginx as a reverse
// proxy, started in the foreground with its configuration, pid file, logs
// and temporary files in a temporary directory.
func TestNginx(t *testing.T) {
	testNginx(t, readsGoroutine)
}

// TestNginxPoller is TestNginx with our server in Poller mode: the
// answering side of the session protocol runs from the Poller's callbacks.
func TestNginxPoller(t *testing.T) {
	testNginx(t, readsPoller)
}

func testNginx(t *testing.T, reads serverReads) {
	r := newRow(t, "nginx", "our client → nginx (reverse proxy) → our server"+reads.label(), compressionOff.name)
	if reads == readsPoller {
		r.addNote("a Poller's epoll loop reads our server's side, which answers from its callbacks")
	}
	nginx := need(t, "nginx", "apt-get install nginx")
	r.setVersion(strings.TrimPrefix(programVersion(t, nginx, "-v"), "nginx version: "))
	backend, responder := newBackend(t, false, reads)
	dir := t.TempDir()
	listen := freePort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(listen), "{{backend}}", fmt.Sprint(port(t, backend))).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := startPeer(t, procSpec{
		name:       "nginx",
		dir:        dir,
		argv:       []string{nginx, "-p", dir, "-e", "stderr", "-c", confPath, "-g", "daemon off;"},
		merge:      true,
		stopSignal: syscall.SIGTERM,
	})
	waitOutput(t, proc, "start worker process")
	proxied(t, backend, responder, fmt.Sprintf("ws://127.0.0.1:%d/interop", listen), &websocket.DialOptions{Proxy: noProxy})
}

// waitOutput waits until the program prints a line containing s.
func waitOutput(t *testing.T, proc *peerProc, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := proc.waitEvent(ctx, 0, fmt.Sprintf("%q", s), func(ev peerEvent) bool {
		return ev.Event == "output" && strings.Contains(ev.Msg, s)
	}); err != nil {
		t.Fatal(err)
	}
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

func fixedProxy(u *url.URL) func(*http.Request) (*url.URL, error) {
	return func(*http.Request) (*url.URL, error) { return u, nil }
}

const tinyproxyConf = `Port {{port}}
Listen 127.0.0.1
Timeout 120
MaxClients 20
Allow 127.0.0.1
ConnectPort {{backend}}
DisableViaHeader Yes
LogLevel Info
PidFile "{{dir}}/tinyproxy.pid"
`

// TestTinyproxy runs our client through tinyproxy (HTTP CONNECT) to our
// server, with and without basic proxy authentication.
func TestTinyproxy(t *testing.T) {
	tests := []struct {
		name string
		user *url.Userinfo
	}{
		{
			name: "no auth",
		},
		{
			name: "basic auth",
			user: url.UserPassword("alice", "s3cret"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRow(t, "tinyproxy", "our client → tinyproxy (HTTP CONNECT, "+tc.name+") → our server", compressionOff.name)
			tinyproxy := need(t, "tinyproxy", "apt-get install tinyproxy")
			r.setVersion(strings.TrimPrefix(programVersion(t, tinyproxy, "-v"), "tinyproxy "))
			backend, responder := newBackend(t, false, readsGoroutine)
			dir := t.TempDir()
			listen := freePort(t)
			conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(listen), "{{backend}}", fmt.Sprint(port(t, backend))).Replace(tinyproxyConf)
			if tc.user != nil {
				pass, _ := tc.user.Password()
				conf += fmt.Sprintf("BasicAuth %s %s\n", tc.user.Username(), pass)
			}
			confPath := filepath.Join(dir, "tinyproxy.conf")
			if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			proc := startPeer(t, procSpec{
				name:       "tinyproxy",
				dir:        dir,
				argv:       []string{tinyproxy, "-d", "-c", confPath},
				merge:      true,
				stopSignal: syscall.SIGTERM,
			})
			waitOutput(t, proc, "Accepting connections")
			proxyURL := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", listen)}
			if tc.user != nil {
				checkProxyRefuses(t, wsURL(backend), proxyURL, nil)
				checkProxyRefuses(t, wsURL(backend), proxyURL, url.UserPassword(tc.user.Username(), "wrong"))
				proxyURL.User = tc.user
			}
			proxied(t, backend, responder, wsURL(backend), &websocket.DialOptions{Proxy: fixedProxy(proxyURL)})
		})
	}
}

// checkProxyRefuses checks that Dial fails with the proxy's refusal when
// the credentials are missing or wrong: 407, or 401 as tinyproxy answers
// wrong credentials.
func checkProxyRefuses(t *testing.T, target string, proxy *url.URL, user *url.Userinfo, tlsConf ...*tls.Config) {
	t.Helper()
	p := *proxy
	p.User = user
	opts := &websocket.DialOptions{Proxy: fixedProxy(&p)}
	if len(tlsConf) > 0 {
		opts.TLSConfig = tlsConf[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cred := "none"
	if user != nil {
		cred = user.String()
	}
	c, _, err := websocket.Dial(ctx, target, opts)
	if err == nil {
		c.CloseNow()
		t.Errorf("Dial through %s with credentials %s succeeded, want 407", proxy.Host, cred)
		return
	}
	if msg := err.Error(); !strings.Contains(msg, "refused CONNECT") || !strings.Contains(msg, "407 ") && !strings.Contains(msg, "401 ") {
		t.Errorf("Dial through %s with credentials %s: %v, want the proxy's 407 or 401", proxy.Host, cred, err)
	}
}

// TestHTTPSProxy runs our client through a TLS-terminating CONNECT proxy
// started by the test, with and without proxy authentication; the
// authenticated variant reaches a wss:// server, so TLS runs inside TLS.
func TestHTTPSProxy(t *testing.T) {
	tests := []struct {
		name string
		user *url.Userinfo
		tls  bool
	}{
		{
			name: "no auth, ws target",
		},
		{
			name: "Proxy-Authorization, wss target",
			user: url.UserPassword("bob", "pa ss"),
			tls:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRow(t, "HTTPS CONNECT proxy (Go crypto/tls, in the test)", "our client → HTTPS proxy ("+tc.name+") → our server", compressionOff.name)
			r.setVersion(goVersion())
			backend, responder := newBackend(t, tc.tls, readsGoroutine)
			cert, pool := selfSignedCert(t)
			if tc.tls {
				pool.AddCert(backend.Certificate())
			}
			p := startConnectProxy(t, cert, tc.user)
			tlsConf := &tls.Config{RootCAs: pool}
			proxyURL := &url.URL{Scheme: "https", Host: p.addr()}
			if tc.user != nil {
				checkProxyRefuses(t, wsURL(backend), proxyURL, nil, tlsConf)
				checkProxyRefuses(t, wsURL(backend), proxyURL, url.UserPassword(tc.user.Username(), "wrong"), tlsConf)
				proxyURL.User = tc.user
			}
			before := p.tunnels.Load()
			proxied(t, backend, responder, wsURL(backend), &websocket.DialOptions{Proxy: fixedProxy(proxyURL), TLSConfig: tlsConf})
			if got := p.tunnels.Load() - before; !t.Failed() && got != 2 {
				t.Errorf("the proxy opened %d tunnels, want 2", got)
			}
		})
	}
}

// selfSignedCert makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "interop proxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// connectProxy is an HTTPS proxy: it terminates TLS, answers CONNECT to
// 127.0.0.1 with a tunnel, and checks Proxy-Authorization when it has
// credentials.
type connectProxy struct {
	t       *testing.T
	ln      net.Listener
	auth    string // expected Proxy-Authorization, or ""
	tunnels atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startConnectProxy(t *testing.T, cert tls.Certificate, user *url.Userinfo) *connectProxy {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{t: t, ln: ln, conns: map[net.Conn]struct{}{}}
	if user != nil {
		pass, _ := user.Password()
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+pass))
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func goVersion() string { return runtime.Version() }

func (p *connectProxy) addr() string { return p.ln.Addr().String() }

func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *connectProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			p.handle(c)
		}()
	}
}

func (p *connectProxy) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	// Refusals carry a small page, in the same write, as real proxies'
	// do.
	respond := func(status int, extra string) {
		body := fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), extra, len(body), body)
	}
	switch {
	case req.Method != http.MethodConnect:
		respond(http.StatusMethodNotAllowed, "")
		return
	case p.auth != "" && req.Header.Get("Proxy-Authorization") != p.auth:
		respond(http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"interop\"\r\n")
		return
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil || host != "127.0.0.1" {
		respond(http.StatusForbidden, "")
		return
	}
	upstream, err := net.DialTimeout("tcp", req.Host, 5*time.Second)
	if err != nil {
		respond(http.StatusBadGateway, "")
		return
	}
	defer upstream.Close()
	if !p.track(upstream) {
		return
	}
	p.tunnels.Add(1)
	c.SetDeadline(time.Time{})
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, br) // br holds anything sent behind the request
		upstream.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, upstream)
		c.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}
