package suite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds a small reference WebSocket peer, independent of the
// library the suite is meant to judge, so that the suite can be tested on
// its own. Its defects can be switched on to prove that the suite notices
// them.

type peerConfig struct {
	noUTF8       bool // never validate text messages
	lateUTF8     bool // validate text only once the message is complete
	anyCloseCode bool // echo every close code, valid or not
	compress     bool // negotiate permessage-deflate
}

type peer struct {
	cfg    peerConfig
	conn   net.Conn
	br     *bufio.Reader
	client bool
	pmce   *deflate

	// onMessage replaces echoing.
	onMessage func(opcode int, payload []byte)
}

var errPeerClosed = errors.New("peer: connection closed")

func (p *peer) release() {
	if p.pmce != nil {
		p.pmce.release()
	}
}

func (p *peer) writeFrame(opcode int, rsv int, payload []byte) error {
	var mask []byte
	if p.client {
		mask = newMask()
	}
	_, err := p.conn.Write(buildFrame(opcode, true, rsv, payload, mask))
	return err
}

// fail closes with code, waits for the closing handshake, then drops TCP.
// skip is the unread payload of the offending frame.
func (p *peer) fail(code int, skip uint64) error {
	p.writeFrame(opClose, 0, binary.BigEndian.AppendUint16(nil, uint16(code)))
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.CopyN(io.Discard, p.br, int64(skip)); err == nil {
		for {
			h, _, err := p.readRaw()
			if err != nil || h.opcode == opClose {
				break
			}
		}
	}
	p.finish()
	return errPeerClosed
}

// answerClose answers a close frame it cannot accept with code and ends
// the connection: the closing handshake is complete.
func (p *peer) answerClose(code int) error {
	p.writeFrame(opClose, 0, binary.BigEndian.AppendUint16(nil, uint16(code)))
	p.finish()
	return errPeerClosed
}

// finish ends the TCP connection: the server at once, the client after the
// server has closed it.
func (p *peer) finish() {
	if p.client {
		p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, p.br)
	}
	p.conn.Close()
}

// readRaw reads one whole frame without checking it.
func (p *peer) readRaw() (frameHeader, []byte, error) {
	h, err := p.readHeader()
	if err != nil {
		return h, nil, err
	}
	if h.length > 1<<20 {
		return h, nil, errors.New("peer: frame too large to drain")
	}
	b := make([]byte, h.length)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return h, nil, err
	}
	if h.masked {
		maskBytes(b, h.mask, 0)
	}
	return h, b, nil
}

func (p *peer) readHeader() (frameHeader, error) {
	var h frameHeader
	var b [2]byte
	if _, err := io.ReadFull(p.br, b[:]); err != nil {
		return h, err
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = int(b[0]>>4) & 7
	h.opcode = int(b[0] & 0x0f)
	h.masked = b[1]&0x80 != 0
	h.length = uint64(b[1] & 0x7f)
	switch h.length {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(p.br, x[:]); err != nil {
			return h, err
		}
		h.length = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(p.br, x[:]); err != nil {
			return h, err
		}
		h.length = binary.BigEndian.Uint64(x[:])
	}
	if h.masked {
		if _, err := io.ReadFull(p.br, h.mask[:]); err != nil {
			return h, err
		}
	}
	return h, nil
}

func validCloseCode(c int) bool {
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
}

// serve echoes messages until the connection ends.
func (p *peer) serve() error {
	var (
		inMsg      bool
		msgOp      int
		compressed bool
		msg        []byte
		v          utf8Validator
	)
	buf := make([]byte, 32<<10)
	for {
		h, err := p.readHeader()
		if err != nil {
			p.conn.Close()
			return err
		}
		control := h.opcode >= 8
		switch {
		case h.rsv != 0 && !(p.pmce != nil && h.rsv == 4 && (h.opcode == opText || h.opcode == opBinary)):
			return p.fail(closeProtocolError, h.length)
		case h.opcode > 2 && h.opcode < 8, h.opcode > 10:
			return p.fail(closeProtocolError, h.length)
		case control && (!h.fin || h.length > 125):
			if h.opcode == opClose {
				// No close is to be awaited after a close.
				return p.answerClose(closeProtocolError)
			}
			return p.fail(closeProtocolError, h.length)
		case h.masked == p.client:
			return p.fail(closeProtocolError, h.length)
		case h.opcode == opContinuation && !inMsg:
			return p.fail(closeProtocolError, h.length)
		case (h.opcode == opText || h.opcode == opBinary) && inMsg:
			return p.fail(closeProtocolError, h.length)
		case h.length > 64<<20:
			return p.fail(1009, 0)
		}
		if !control && !inMsg {
			inMsg, msgOp, compressed, msg = true, h.opcode, h.rsv == 4, msg[:0]
			v.reset()
		}
		checkNow := !control && msgOp == opText && !compressed && !p.cfg.noUTF8 && !p.cfg.lateUTF8
		var payload []byte
		pos := 0
		for rem := h.length; rem > 0; {
			n, err := p.br.Read(buf[:min(rem, uint64(len(buf)))])
			if err != nil {
				p.conn.Close()
				return err
			}
			chunk := buf[:n]
			if h.masked {
				pos = maskBytes(chunk, h.mask, pos)
			}
			rem -= uint64(n)
			if checkNow && !v.write(chunk) {
				return p.fail(closeInvalidPayload, rem)
			}
			payload = append(payload, chunk...)
		}
		switch h.opcode {
		case opPing:
			p.writeFrame(opPong, 0, payload)
			continue
		case opPong:
			continue
		case opClose:
			if len(payload) == 1 {
				return p.answerClose(closeProtocolError)
			}
			reply := []byte{}
			if len(payload) >= 2 {
				code := int(binary.BigEndian.Uint16(payload))
				if !validCloseCode(code) && !p.cfg.anyCloseCode {
					return p.answerClose(closeProtocolError)
				}
				var cv utf8Validator
				if !cv.write(payload[2:]) || !cv.complete() {
					return p.answerClose(closeInvalidPayload)
				}
				reply = payload[:2]
			}
			p.writeFrame(opClose, 0, reply)
			p.finish()
			return nil
		}
		msg = append(msg, payload...)
		if !h.fin {
			continue
		}
		inMsg = false
		out := msg
		if compressed {
			d, err := p.pmce.decompress(msg)
			if err != nil {
				return p.fail(closeProtocolError, 0)
			}
			out = d
		}
		if msgOp == opText && !p.cfg.noUTF8 {
			if compressed || p.cfg.lateUTF8 {
				if !v.write(out) {
					return p.fail(closeInvalidPayload, 0)
				}
			}
			if !v.complete() {
				return p.fail(closeInvalidPayload, 0)
			}
		}
		if p.onMessage != nil {
			p.onMessage(msgOp, append([]byte(nil), out...))
			continue
		}
		rsv := 0
		if p.pmce != nil {
			out = p.pmce.compress(out)
			rsv = 4
		}
		if err := p.writeFrame(msgOp, rsv, out); err != nil {
			p.conn.Close()
			return err
		}
	}
}

// acceptPeer performs the server side of the opening handshake.
func acceptPeer(conn net.Conn, cfg peerConfig) (*peer, error) {
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(br)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
		io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		conn.Close()
		return nil, errors.New("peer: not a WebSocket request")
	}
	p := &peer{cfg: cfg, conn: conn, br: br}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	if cfg.compress {
		for _, e := range parseExtensions(strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ",")) {
			if e.name != "permessage-deflate" {
				continue
			}
			o, err := parseOffer(e)
			if err != nil {
				continue
			}
			ext := "permessage-deflate"
			if o.requestNoContextTakeover {
				ext += "; server_no_context_takeover"
			}
			if o.requestMaxWindowBits != 0 {
				ext += "; server_max_window_bits=" + strconv.Itoa(o.requestMaxWindowBits)
			}
			p.pmce = newDeflate(true, o.requestNoContextTakeover, false, o.requestMaxWindowBits, 0)
			resp += "Sec-WebSocket-Extensions: " + ext + "\r\n"
			break
		}
	}
	if _, err := io.WriteString(conn, resp+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

// servePeers runs reference echo servers on a loopback listener until the
// test ends and returns the URL.
func servePeers(t *testing.T, cfg peerConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := acceptPeer(conn, cfg)
				if err == nil {
					p.serve()
					p.release()
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

// dialPeer performs the client side of the opening handshake.
func dialPeer(ctx context.Context, rawURL string, cfg peerConfig) (*peer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", u.RequestURI(), u.Host, key)
	if cfg.compress {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		conn.Close()
		return nil, fmt.Errorf("peer: handshake refused: %s", resp.Status)
	}
	p := &peer{cfg: cfg, conn: conn, br: br, client: true}
	for _, e := range parseExtensions(resp.Header.Get("Sec-WebSocket-Extensions")) {
		r, err := parseResponse(e)
		if err != nil || e.name != "permessage-deflate" {
			conn.Close()
			return nil, fmt.Errorf("peer: bad extension response %q", resp.Header.Get("Sec-WebSocket-Extensions"))
		}
		p.pmce = newDeflate(false, r.serverNoContextTakeover, r.clientNoContextTakeover, r.serverMaxWindowBits, r.clientMaxWindowBits)
	}
	return p, nil
}

// runPeerClient follows the testee-client protocol against a fuzzing
// server, for the given case numbers (all when nil).
func runPeerClient(ctx context.Context, base, agent string, cfg peerConfig, cases []int) error {
	if cases == nil {
		p, err := dialPeer(ctx, base+"/getCaseCount", cfg)
		if err != nil {
			return err
		}
		count := -1
		p.onMessage = func(_ int, b []byte) { count, _ = strconv.Atoi(string(b)) }
		p.serve()
		p.release()
		if count < 0 {
			return errors.New("no case count received")
		}
		for i := 1; i <= count; i++ {
			cases = append(cases, i)
		}
	}
	for _, n := range cases {
		p, err := dialPeer(ctx, fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, n, url.QueryEscape(agent)), cfg)
		if err != nil {
			return err
		}
		p.serve()
		p.release()
	}
	p, err := dialPeer(ctx, base+"/updateReports?agent="+url.QueryEscape(agent), cfg)
	if err != nil {
		return err
	}
	p.serve()
	return nil
}
