// Package bpool holds the buffer pools connections share, so that an idle
// connection holds no buffer of its own.
package bpool

import "sync"

// ReadSize is the size of a read buffer. It holds any control frame whole,
// so a control frame can always be parsed without allocating.
const ReadSize = 4096

var reads = sync.Pool{New: func() any {
	b := make([]byte, ReadSize)
	return &b
}}

// GetRead returns a read buffer of ReadSize bytes.
func GetRead() *[]byte { return reads.Get().(*[]byte) }

// PutRead returns a buffer from GetRead to the pool; the caller must not
// use it again.
func PutRead(b *[]byte) { reads.Put(b) }

// writes holds one pool per write buffer size in use.
var writes sync.Map // int -> *sync.Pool

// Writes returns the pool of write buffers of size bytes, made on first
// use; each Get returns a *[]byte of that length.
func Writes(size int) *sync.Pool {
	if p, ok := writes.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writes.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// vars holds buffers of no set size: the storage of large messages that
// arrive in pieces, and compressed payloads.
var vars sync.Pool

// GetVar returns a pooled buffer of length zero and some capacity, or nil
// when the pool is empty.
func GetVar() *[]byte {
	b, _ := vars.Get().(*[]byte)
	return b
}

// PutVar empties b and returns it to the pool; the caller must not use it
// again.
func PutVar(b *[]byte) {
	*b = (*b)[:0]
	vars.Put(b)
}
