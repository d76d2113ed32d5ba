package websocket

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/fullduplex/websocket/internal/offheap"
)

var takeoverOpts = CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}

// distinctMessages returns n messages of size bytes, each unlike the
// others, so that histories fill.
func distinctMessages(n, size int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = compressible(size, uint64(i+1))
	}
	return msgs
}

// checkBlock checks that d's histories are in a block of its own, lent.
func checkBlock(t *testing.T, who string, d *deflate) offheap.ID {
	t.Helper()
	id := offheap.ID(d.block.Load())
	if !offheap.Available() {
		if id != 0 {
			t.Fatalf("%s: a block where none can be lent", who)
		}
		return 0
	}
	if !offheap.Lent(id) {
		t.Fatalf("%s: histories of %d and %d bytes are not in a lent block", who, len(d.sendHist.Bytes()), len(d.recvHist.Bytes()))
	}
	block := offheap.Bytes(id)
	for _, h := range [][]byte{d.sendHist.Bytes(), d.recvHist.Bytes()} {
		if cap(h) != 32<<10 || !within(h[:cap(h)], block) {
			t.Fatalf("%s: a full history is not in the block", who)
		}
	}
	return id
}

// within reports whether b lies inside block.
func within(b, block []byte) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(block)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(block))
}

// TestHistoriesOffHeap fills both histories of a connection with context
// takeover, served by a goroutine and by a Poller: they move to a block
// off the heap, messages keep round-tripping intact through them, and the
// block is freed when the connection ends.
func TestHistoriesOffHeap(t *testing.T) {
	aopts := &AcceptOptions{ConnOptions: ConnOptions{Compression: takeoverOpts}}
	dopts := &DialOptions{ConnOptions: ConnOptions{Compression: takeoverOpts}}
	msgs := distinctMessages(40, 1<<10)
	exchange := func(t *testing.T, client *Conn) {
		ctx := testCtx(t)
		for i := range 3 * len(msgs) {
			msg := msgs[i%len(msgs)]
			if err := client.Write(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			_, got, err := client.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("message %d came back changed", i)
			}
		}
	}
	t.Run("goroutine", func(t *testing.T) {
		client, server := pair(t, aopts, dopts)
		echoed := make(chan struct{}, 3*len(msgs))
		serving := make(chan struct{})
		go func() {
			defer close(serving)
			ctx := testCtx(t)
			for {
				typ, msg, err := server.Read(ctx)
				if err != nil || server.Write(ctx, typ, msg) != nil {
					return
				}
				echoed <- struct{}{}
			}
		}()
		exchange(t, client)
		for range 3 * len(msgs) {
			<-echoed // the server's writes are over: its histories may be read
		}
		sid, cid := checkBlock(t, "server", server.deflate), checkBlock(t, "client", client.deflate)
		client.CloseNow()
		server.CloseNow()
		// The server's Read may still be running: its histories are
		// retired once it lets go of them, which is after CloseNow.
		await(t, serving, "the server's Read to end")
		if offheap.Lent(sid) || offheap.Lent(cid) {
			t.Fatal("a connection's block outlived it")
		}
	})
	t.Run("poller", func(t *testing.T) {
		srv := newPollerServer(t, "tcp", aopts, nil)
		client := srv.dial(t, dopts)
		exchange(t, client)
		cid := checkBlock(t, "client", client.deflate)
		client.CloseNow()
		closed := srv.nextClosed(t)
		if closed.c.deflate.isPolled() != (runtime.GOOS == "linux") {
			t.Fatal("the Poller's connection is not marked as polled")
		}
		if sid := offheap.ID(closed.c.deflate.block.Load()); sid == 0 && offheap.Available() {
			t.Fatal("the Poller's connection kept its histories on the heap")
		} else if offheap.Lent(sid) {
			t.Fatal("the Poller's connection's block outlived it")
		}
		if offheap.Lent(cid) {
			t.Fatal("the client's block outlived it")
		}
	})
}

// TestRetireWhileBusy closes connections with takeover while a reader and
// a writer on each side touch their histories: no read or write reaches a
// freed block (the race detector and the content checks would see it),
// and every block is freed once both have stopped.
func TestRetireWhileBusy(t *testing.T) {
	aopts := &AcceptOptions{ConnOptions: ConnOptions{Compression: takeoverOpts}}
	dopts := &DialOptions{ConnOptions: ConnOptions{Compression: takeoverOpts}}
	msgs := distinctMessages(16, 4<<10)
	for round := range 8 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			client, server := pair(t, aopts, dopts)
			ctx := testCtx(t)
			var wg sync.WaitGroup
			// The server's reader says when it has read enough: the
			// connections close after a different amount each round.
			// It says so too if it stops before, so that the test goes
			// on to close them rather than wait.
			enough := make(chan struct{})
			sayEnough := sync.OnceFunc(func() { close(enough) })
			for _, c := range []*Conn{client, server} {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i := 0; c.Write(ctx, MessageBinary, msgs[i%len(msgs)]) == nil; i++ {
					}
				}()
				go func() {
					defer wg.Done()
					if c == server {
						defer sayEnough()
					}
					for i := 0; ; i++ {
						if c == server && i == round*3 {
							sayEnough()
						}
						_, got, err := c.Read(ctx)
						if err != nil {
							if c == server && i < round*3 {
								t.Errorf("server Read %d, before the test closed: %v", i, err)
							}
							return
						}
						if !bytes.Equal(got, msgs[i%len(msgs)]) {
							t.Errorf("message %d arrived changed", i)
							return
						}
					}
				}()
			}
			await(t, enough, "the server's reader to read enough")
			server.CloseNow()
			client.CloseNow()
			wg.Wait()
			for _, c := range []*Conn{client, server} {
				if id := offheap.ID(c.deflate.block.Load()); offheap.Lent(id) {
					t.Fatal("a block outlived its connection's reads and writes")
				}
				if c.deflate.hold() {
					t.Fatal("a retired connection's histories could be held")
				}
			}
		})
	}
}

// TestDroppedDeflateFreesBlock drops, unclosed, the compression state of
// a goroutine's connection whose history is off the heap: a GC cleanup
// frees the block.
func TestDroppedDeflateFreesBlock(t *testing.T) {
	if !offheap.Available() {
		t.Skip("no blocks on this platform")
	}
	d := newDeflate(deflateParams{}, false, &takeoverOpts)
	d.sent(compressible(8<<10, 1))
	id := offheap.ID(d.block.Load())
	if !offheap.Lent(id) {
		t.Fatal("an 8 KiB history is not in a block")
	}
	d = nil
	deadline := time.Now().Add(5 * time.Second)
	for offheap.Lent(id) {
		if time.Now().After(deadline) {
			t.Fatal("the block of a dropped connection was not freed")
		}
		runtime.GC()
		// Cleanups run on a goroutine of their own, after the GC that
		// found d unreachable; nothing signals them, so this polls.
		time.Sleep(time.Millisecond)
	}
}

// TestRetireFreesAtOnce retires a state nothing holds: its block goes,
// and its histories can no longer be held or appended to.
func TestRetireFreesAtOnce(t *testing.T) {
	d := newDeflate(deflateParams{}, false, &takeoverOpts)
	d.sent(compressible(8<<10, 1))
	id := offheap.ID(d.block.Load())
	if !d.hold() {
		t.Fatal("a live state cannot be held")
	}
	d.retire()
	if offheap.Available() && !offheap.Lent(id) {
		t.Fatal("retire freed a block still held")
	}
	d.unhold()
	if offheap.Lent(id) {
		t.Fatal("the last unhold after retire did not free the block")
	}
	if d.hold() {
		t.Fatal("a retired state can be held")
	}
	n := len(d.sendHist.Bytes())
	d.sent([]byte("more"))
	if len(d.sendHist.Bytes()) != n {
		t.Fatal("a retired state's history was appended to")
	}
}
