package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"

	coder "github.com/coder/websocket"
	ours "github.com/fullduplex/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// Every server echoes each message back as one message of the same type.
// The net/http based ones (ours, gorilla, coder) run the echo loop on a
// goroutine of its own and let the handler return, so the request is not
// kept alive; each reads a whole message into a buffer reused for the
// connection's life and writes it back. ours-poller also lets the handler
// return, but hands the connection to a Poller instead of a goroutine.

func httpServe(ln net.Listener, h http.HandlerFunc) {
	log.Fatal((&http.Server{Handler: h}).Serve(ln))
}

// ourOptions are the AcceptOptions of both of our servers: the defaults,
// and with compression CompressionNoContextTakeover, or
// CompressionContextTakeover (15-bit windows both ways, the default, or
// options.windowBits).
func ourOptions(o options) *ours.AcceptOptions {
	opts := &ours.AcceptOptions{}
	switch {
	case o.takeover:
		opts.Compression.Mode = ours.CompressionContextTakeover
		opts.Compression.MaxWindowBits = o.windowBits
		opts.Compression.SendWindowBits = o.windowBits
	case o.compress:
		opts.Compression.Mode = ours.CompressionNoContextTakeover
	}
	return opts
}

// ours: Accept, then ReadAppend into a reused buffer and Write.
func serveOurs(ln net.Listener, o options) {
	opts := ourOptions(o)
	httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := ours.Accept(w, r, opts)
		if err != nil {
			return
		}
		go func() {
			defer c.CloseNow()
			ctx := context.Background()
			var buf []byte
			for {
				typ, b, err := c.ReadAppend(ctx, buf[:0])
				if err != nil {
					return
				}
				buf = b
				if err := c.Write(ctx, typ, buf); err != nil {
					return
				}
			}
		}()
	})
}

// ours-poller: Accept with the same options as ours, then Serve on one
// process-wide Poller (default options: GOMAXPROCS/2 + 1 event loops, or
// -loops; epoll on Linux, so an idle connection has no goroutine);
// OnMessage writes the message back from the event loop and closes the
// connection if the write fails.
func serveOursPoller(ln net.Listener, o options) {
	opts := ourOptions(o)
	p, err := ours.NewPoller(ours.PollerOptions{
		Loops:      o.loops,
		NoBatching: o.noBatching,
		OnMessage: func(c *ours.Conn, typ ours.MessageType, msg []byte) {
			if err := c.Write(context.Background(), typ, msg); err != nil {
				c.CloseNow()
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := ours.Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := p.Serve(c); err != nil {
			c.CloseNow()
		}
	})
}

// gorilla: the default Upgrader (it reuses net/http's hijacked buffers),
// NextReader into a reused bytes.Buffer, WriteMessage. With compression it
// negotiates its only mode, no context takeover.
func serveGorilla(ln net.Listener, o options) {
	u := &gorilla.Upgrader{EnableCompression: o.compress}
	httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var buf bytes.Buffer
			for {
				typ, rd, err := c.NextReader()
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(rd); err != nil {
					return
				}
				if err := c.WriteMessage(typ, buf.Bytes()); err != nil {
					return
				}
			}
		}()
	})
}

// coder: Accept, Reader into a reused bytes.Buffer, Write. With
// compression, CompressionNoContextTakeover (its low-memory mode), or
// CompressionContextTakeover.
func serveCoder(ln net.Listener, o options) {
	opts := &coder.AcceptOptions{}
	switch {
	case o.takeover:
		opts.CompressionMode = coder.CompressionContextTakeover
	case o.compress:
		opts.CompressionMode = coder.CompressionNoContextTakeover
	}
	httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, opts)
		if err != nil {
			return
		}
		c.SetReadLimit(-1)
		go func() {
			defer c.CloseNow()
			ctx := context.Background()
			var buf bytes.Buffer
			for {
				typ, rd, err := c.Reader(ctx)
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(rd); err != nil {
					return
				}
				if err := c.Write(ctx, typ, buf.Bytes()); err != nil {
					return
				}
			}
		}()
	})
}

// gobwas: its zero-copy ws.Upgrader on the raw TCP connection (no
// net/http), then the low-level frame API: ws.ReadHeaderBuffer from a
// 4 KiB bufio.Reader, the payload read into a reused buffer behind room for
// the reply's header, ws.Cipher, and the reply written with one Write.
// Frames are echoed one for one (the load generator never fragments).
// With compression, wsflate.Extension negotiates it, and nothing more:
// the echo copies each frame's header, RSV1 included, so an uncompressed
// message comes back uncompressed (which RFC 7692 allows) and a compressed
// one comes back as it came, never inflated. The report's compressed parts
// leave gobwas out for that reason.
func serveGobwas(ln net.Listener, o options) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer nc.Close()
			u := ws.Upgrader{}
			if o.compress {
				e := &wsflate.Extension{Parameters: wsflate.DefaultParameters}
				u.Negotiate = e.Negotiate
			}
			if _, err := u.Upgrade(nc); err != nil {
				return
			}
			gobwasEcho(nc)
		}()
	}
}

func gobwasEcho(nc net.Conn) {
	br := bufio.NewReaderSize(nc, 4096)
	var hb [ws.MaxHeaderSize]byte
	var buf []byte
	sw := &sliceWriter{}
	for {
		h, err := ws.ReadHeaderBuffer(br, hb[:])
		if err != nil {
			return
		}
		n := int(h.Length)
		if cap(buf) < ws.MaxHeaderSize+n {
			buf = make([]byte, ws.MaxHeaderSize+n)
		}
		p := buf[ws.MaxHeaderSize : ws.MaxHeaderSize+n]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			h.OpCode = ws.OpPong
		case ws.OpPong:
			continue
		}
		h.Masked = false
		hn := ws.HeaderSize(h)
		out := buf[ws.MaxHeaderSize-hn : ws.MaxHeaderSize+n]
		sw.b = out
		if err := ws.WriteHeaderBuffer(sw, h, hb[:]); err != nil {
			return
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			return
		}
	}
}

// sliceWriter copies what is written to the start of b.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) { return copy(s.b, p), nil }

// gws: its own server (gws.NewServer, which reads requests without
// net/http), default options, and the echo in OnMessage, which runs on the
// connection's read loop; the message goes back to gws' pool with Close.
// With compression, PermessageDeflate at its defaults (no context
// takeover), or with context takeover both ways and the window bits raised
// to 15 (its takeover default being 12), as the compression benchmarks set
// it.
func serveGws(ln net.Listener, o options) {
	opt := &gws.ServerOption{}
	if o.compress {
		opt.PermessageDeflate = gws.PermessageDeflate{Enabled: true}
	}
	if o.takeover {
		opt.PermessageDeflate.ServerContextTakeover = true
		opt.PermessageDeflate.ClientContextTakeover = true
		opt.PermessageDeflate.ServerMaxWindowBits = 15
		opt.PermessageDeflate.ClientMaxWindowBits = 15
	}
	s := gws.NewServer(gwsEcho{}, opt)
	log.Fatal(s.RunListener(ln))
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	c.WriteMessage(m.Opcode, m.Bytes())
	m.Close()
}
