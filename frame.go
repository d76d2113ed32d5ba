package websocket

import "github.com/fullduplex/websocket/internal/wsproto"

// The frame codec and the protocol rules live in internal/wsproto, which
// does no I/O; these names keep the drivers in this package short.

type (
	opcode = wsproto.Opcode
	header = wsproto.Header
)

const (
	opContinuation = wsproto.OpContinuation
	opText         = wsproto.OpText
	opBinary       = wsproto.OpBinary
	opClose        = wsproto.OpClose
	opPing         = wsproto.OpPing
	opPong         = wsproto.OpPong

	maxHeaderSize     = wsproto.MaxHeaderSize
	maxControlPayload = wsproto.MaxControlPayload
	maxControlFrame   = wsproto.MaxControlFrame

	bitFin  = wsproto.BitFin
	bitRsv1 = wsproto.BitRsv1
	bitRsv2 = wsproto.BitRsv2
	bitRsv3 = wsproto.BitRsv3
	bitMask = wsproto.BitMask
)

func init() { wsproto.Mask = maskBytes }

func headerLen(b1 byte) int { return wsproto.HeaderLen(b1) }

func parseHeader(b []byte) (header, int, error) { return wsproto.ParseHeader(b) }

func putHeader(b []byte, h header) int { return wsproto.PutHeader(b, h) }

func validUTF8(p []byte) bool { return wsproto.ValidUTF8(p) }

var errLengthOverflow = wsproto.ErrLengthOverflow
