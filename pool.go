package websocket

import "sync"

// readBufferSize is the size of the pooled buffer frames are read into. It
// holds any control frame whole, so a control frame can always be parsed
// without allocating.
const readBufferSize = 4096

var readBufPool = sync.Pool{New: func() any {
	b := make([]byte, readBufferSize)
	return &b
}}

// writeBufPools holds one pool per write buffer size in use.
var writeBufPools sync.Map // int -> *sync.Pool

func writeBufPool(size int) *sync.Pool {
	if p, ok := writeBufPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writeBufPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}
