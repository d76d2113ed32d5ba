package websocket_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fullduplex/websocket"

	// Go 1.25 and 1.26 accept WebSockets over HTTP/2 (extended CONNECT)
	// only when GODEBUG=http2xconnect=1; this import sets it. Put it in the
	// main package of the server.
	_ "github.com/fullduplex/websocket/xconnect"
)

// streamEchoHandler echoes every message, over HTTP/1.1 and HTTP/2 alike.
// Over HTTP/2 the connection is the request's stream, which ends when the
// handler returns: so the handler returns only once the connection is done.
func streamEchoHandler(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request with the reason.
	}
	defer func() {
		c.CloseNow()
		<-c.Done()
	}()
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

func ExampleAccept_http2() {
	http.HandleFunc("/ws", streamEchoHandler)
	// An HTTP/2 server, with TLS:
	srv := &http.Server{Addr: "localhost:8443"}
	_ = srv
	// log.Fatal(srv.ListenAndServeTLS("cert.pem", "key.pem"))
	//
	// Or over cleartext (h2c), keeping HTTP/1.1 for the Upgrade (Protocols
	// is nil until set, and HTTP/2 alone would refuse HTTP/1.1):
	//
	//	srv.Protocols = new(http.Protocols)
	//	srv.Protocols.SetHTTP1(true)
	//	srv.Protocols.SetUnencryptedHTTP2(true)
	//	log.Fatal(srv.ListenAndServe())
}

func ExampleHTTP2Transport() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(streamEchoHandler))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	// Dials sharing an HTTP2Transport share its connections: these two
	// WebSockets are two streams of one TCP connection.
	opts := &websocket.DialOptions{
		TLSConfig: &tls.Config{RootCAs: roots},
		HTTP2:     new(websocket.HTTP2Transport),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws"
	var conns []*websocket.Conn
	for range 2 {
		c, resp, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			log.Fatal(err)
		}
		defer c.CloseNow()
		fmt.Println(resp.Proto, resp.StatusCode)
		conns = append(conns, c)
	}
	for i, c := range conns {
		if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "hello %d", i)); err != nil {
			log.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(msg))
		c.Close(websocket.StatusNormalClosure, "")
	}
	// Output:
	// HTTP/2.0 200
	// HTTP/2.0 200
	// hello 0
	// hello 1
}
