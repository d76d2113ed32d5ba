package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strconv"

	"github.com/fullduplex/websocket/bench/internal/wsframe"
)

// message is one message a client sends, ready to go: the plain frame and,
// when compression is negotiated and asked for, the compressed one.
type message struct {
	payload    []byte // what the echo must carry back
	plain      []byte // masked frame, payload as is
	compressed []byte // masked frame, RSV1 set, payload deflated
	deflated   int    // the deflated payload's length
}

// messages returns count distinct messages of size bytes. kind "bytes" is
// the historic payload (the letters a to z over and over, a binary
// message, identical for every seq); "json" is a text message holding a
// JSON document like those an API sends, distinct for every seq, so that
// compression has something realistic to do. compressed frames are made
// only when withDeflate is set.
func messages(kind string, size, count int, withDeflate bool) ([]*message, error) {
	var fw *flate.Writer
	if withDeflate {
		var err error
		if fw, err = flate.NewWriter(nil, flate.DefaultCompression); err != nil {
			return nil, err
		}
	}
	out := make([]*message, count)
	for i := range out {
		var payload []byte
		op := byte(wsframe.OpBinary)
		switch kind {
		case "bytes":
			payload = make([]byte, size)
			for j := range payload {
				payload[j] = byte('a' + j%26)
			}
		case "json":
			payload = jsonMessage(size, i)
			op = wsframe.OpText
		default:
			return nil, fmt.Errorf("unknown -payload %q", kind)
		}
		var mask [4]byte
		rand.Read(mask[:])
		m := &message{
			payload: payload,
			plain:   wsframe.AppendFrame(nil, op, payload, true, mask),
		}
		if fw != nil {
			z := deflateMessage(fw, payload)
			m.compressed = wsframe.AppendFrame(nil, op, z, true, mask)
			m.deflated = len(z)
			m.compressed[0] |= 0x40 // RSV1: a compressed message (RFC 7692)
		}
		out[i] = m
	}
	return out, nil
}

// deflateMessage compresses p as one permessage-deflate message: a raw
// DEFLATE stream ended by a sync flush whose last four bytes (00 00 ff ff)
// are removed (RFC 7692, section 7.2.1). Each message is compressed on its
// own, so it is valid with or without client context takeover: it refers
// back to nothing before it, which a peer keeping a window allows.
func deflateMessage(fw *flate.Writer, p []byte) []byte {
	var buf bytes.Buffer
	fw.Reset(&buf)
	fw.Write(p)
	fw.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

var jsonWords = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
	"order", "payment", "shipped", "pending", "refund", "invoice", "account",
	"session", "device", "region", "europe", "america", "asia", "mobile",
}

// jsonMessage returns the JSON document number seq, of exactly n bytes
// (n of at least 40): chat messages as a server pushes them, with
// deterministic pseudo-random ids, names, times and words, padded to n.
// The same shape as the bench module's compression benchmarks' JSON chat
// corpus, which compresses to about a quarter to a half of its size.
func jsonMessage(n, seq int) []byte {
	rng := mrand.New(mrand.NewPCG(uint64(n), uint64(seq)))
	word := func() string { return jsonWords[rng.IntN(len(jsonWords))] }
	b := []byte(`{"type":"messages","seq":` + strconv.Itoa(seq) + `,"items":[`)
	const tail = `],"pad":""}`
	var rec []byte
	for i := 0; ; i++ {
		rec = rec[:0]
		if i > 0 {
			rec = append(rec, ',')
		}
		rec = fmt.Appendf(rec, `{"id":%d,"from":{"id":%d,"name":"%s_%d"},"ts":"2026-12-04T10:%02d:%02d.%03dZ","text":"`,
			seq*100+i, rng.IntN(5000), word(), rng.IntN(100), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
		for k := range 3 + rng.IntN(10) {
			if k > 0 {
				rec = append(rec, ' ')
			}
			rec = append(rec, word()...)
		}
		rec = append(rec, `","reactions":[]}`...)
		if len(b)+len(rec)+len(tail) > n {
			break
		}
		b = append(b, rec...)
	}
	if len(b)+len(tail) > n {
		// Too small for the envelope: a JSON string of n bytes.
		s := make([]byte, max(n, 2))
		for i := range s {
			s[i] = 'a' + byte(i%26)
		}
		s[0], s[len(s)-1] = '"', '"'
		return s[:n]
	}
	b = append(b, tail[:len(tail)-2]...)
	for len(b) < n-2 {
		b = append(b, ' ')
	}
	return append(b, `"}`...)
}
