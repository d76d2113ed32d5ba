package websocket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall/js"
)

// inBrowser is true where Dial opens the browser's WebSocket (GOOS=js).
const inBrowser = true

// dialBrowser is Dial in a browser: the browser's WebSocket object makes
// the connection, its handshake and its TLS, and the returned Conn runs
// over it (browser_js.go). What the browser does not let a page choose is
// refused, so that no option is silently ignored where it matters:
// HTTPHeader, Host, HTTP2Only and PingInterval. TLSConfig, Jar, Proxy,
// NetDialContext, HTTP2 and MaxResponseHeaderBytes are the browser's
// business and are not used; Compression too: the browser offers
// permessage-deflate itself if it wants, and inflates and deflates out of
// sight (the response's Sec-WebSocket-Extensions says what it agreed).
func dialBrowser(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	u, err := parseWebSocketURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if err := checkBrowserDialOptions(opts); err != nil {
		return nil, nil, err
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	wsURL := u.String()
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, nil, errors.New("this JavaScript environment has no WebSocket")
	}

	b := newBrowserConn(wsURL, opts.ConnOptions.readLimit())
	s, err := openJSSocket(ctor, wsURL, opts.Subprotocols, b)
	if err != nil {
		return nil, nil, err
	}
	b.sock = s
	select {
	case <-s.opened:
	case <-b.closeEv:
		s.release()
		b.mu.Lock()
		msg := b.closeMsg
		b.mu.Unlock()
		return nil, nil, fmt.Errorf("the browser could not open the connection (%s); a page is not told why: the server refused or was unreachable, TLS failed, or the handshake was refused (the browser's console has the details)", msg)
	case <-ctx.Done():
		s.close(0, "")
		s.release()
		return nil, nil, fmt.Errorf("handshake: %w", ctx.Err())
	}

	subprotocol := s.ws.Get("protocol").String()
	if subprotocol != "" && !contains(opts.Subprotocols, subprotocol) {
		s.close(0, "")
		s.release()
		return nil, nil, &HandshakeError{Status: http.StatusSwitchingProtocols, Reason: fmt.Sprintf("server chose subprotocol %q, which was not offered", subprotocol)}
	}
	resp := &http.Response{
		Status:     "101 Switching Protocols",
		StatusCode: http.StatusSwitchingProtocols,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Body:       http.NoBody,
	}
	if subprotocol != "" {
		resp.Header.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	if ext := s.ws.Get("extensions").String(); ext != "" {
		resp.Header.Set("Sec-WebSocket-Extensions", ext)
	}
	c := newConn(b, true, &opts.ConnOptions, subprotocol, nil, nil)
	b.conn.Store(c)
	return c, resp, nil
}

// checkBrowserDialOptions refuses what a browser cannot do.
func checkBrowserDialOptions(opts *DialOptions) error {
	switch {
	case len(opts.HTTPHeader) > 0:
		return errors.New("a browser sends no custom header fields (DialOptions.HTTPHeader); pass credentials in the URL's query or a first message, or rely on the browser's cookies")
	case opts.Host != "":
		return errors.New("a browser does not let a page set the Host (DialOptions.Host)")
	case opts.HTTP2Only:
		return errors.New("a browser decides by itself whether to use HTTP/2 (DialOptions.HTTP2Only)")
	case opts.PingInterval > 0:
		return errors.New("a browser cannot send pings, which ConnOptions.PingInterval needs")
	case opts.MaxResponseHeaderBytes < 0:
		return fmt.Errorf("invalid DialOptions.MaxResponseHeaderBytes %d", opts.MaxResponseHeaderBytes)
	}
	seen := make(map[string]bool, len(opts.Subprotocols))
	for _, p := range opts.Subprotocols {
		if !validToken(p) {
			return fmt.Errorf("invalid subprotocol %q", p)
		}
		if seen[strings.ToLower(p)] {
			return fmt.Errorf("subprotocol %q offered twice, which a browser refuses", p)
		}
		seen[strings.ToLower(p)] = true
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsSocket is the browser's WebSocket object with its event handlers.
type jsSocket struct {
	ws     js.Value
	funcs  []js.Func
	opened chan struct{}
}

var (
	jsUint8Array  = js.Global().Get("Uint8Array")
	jsTextEncoder js.Value // made on the first text message
)

// openJSSocket creates the WebSocket and attaches its handlers, which
// feed b. It returns what the constructor threw as an error.
func openJSSocket(ctor js.Value, url string, protocols []string, b *browserConn) (s *jsSocket, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the browser refused the WebSocket: %v", r)
		}
	}()
	args := make([]any, len(protocols))
	for i, p := range protocols {
		args[i] = p
	}
	ws := ctor.New(url, js.ValueOf(args))
	ws.Set("binaryType", "arraybuffer")
	s = &jsSocket{ws: ws, opened: make(chan struct{})}
	s.on("open", func(js.Value) { close(s.opened) })
	s.on("message", func(ev js.Value) {
		data := ev.Get("data")
		var u8 js.Value
		text := data.Type() == js.TypeString
		if text {
			if jsTextEncoder.IsUndefined() {
				jsTextEncoder = js.Global().Get("TextEncoder").New()
			}
			u8 = jsTextEncoder.Call("encode", data)
		} else {
			u8 = jsUint8Array.New(data)
		}
		b.deliver(text, u8.Get("length").Int(), func(dst []byte) { js.CopyBytesToGo(dst, u8) })
	})
	s.on("close", func(ev js.Value) {
		b.closeEvent(ev.Get("code").Int(), ev.Get("reason").String())
	})
	// Browsers follow an error event with a close event, code 1006, which
	// says all a page may know. Node's WebSocket may fire error alone (a
	// handshake it refused), so error ends the connection as that close
	// would; the close event, if it comes, then finds it ended.
	s.on("error", func(js.Value) { b.closeEvent(int(StatusAbnormalClosure), "") })
	return s, nil
}

func (s *jsSocket) on(event string, f func(ev js.Value)) {
	fn := js.FuncOf(func(this js.Value, args []js.Value) any {
		f(args[0])
		return nil
	})
	s.funcs = append(s.funcs, fn)
	s.ws.Set("on"+event, fn)
}

func (s *jsSocket) send(text bool, p []byte) (err error) {
	defer catchJS(&err)
	if text {
		s.ws.Call("send", string(p))
		return nil
	}
	u8 := jsUint8Array.New(len(p))
	js.CopyBytesToJS(u8, p)
	s.ws.Call("send", u8)
	return nil
}

func (s *jsSocket) close(code int, reason string) (err error) {
	defer catchJS(&err)
	if code == 0 {
		s.ws.Call("close")
	} else {
		s.ws.Call("close", code, reason)
	}
	return nil
}

func (s *jsSocket) bufferedAmount() int { return s.ws.Get("bufferedAmount").Int() }

func (s *jsSocket) release() {
	if s.funcs == nil {
		return
	}
	for _, name := range []string{"onopen", "onmessage", "onclose", "onerror"} {
		s.ws.Set(name, js.Null())
	}
	for _, fn := range s.funcs {
		fn.Release()
	}
	s.funcs = nil
}

// catchJS turns an exception thrown by a JavaScript call into *err.
func catchJS(err *error) {
	if r := recover(); r != nil {
		if jerr, ok := r.(js.Error); ok {
			*err = jerr
			return
		}
		panic(r)
	}
}
