package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

var soakConns = flag.Int("soak.conns", 50, "connections in TestSoak")
var soakMessages = flag.Int("soak.messages", 40, "messages each way per connection in TestSoak")
var soakWriteTimeout = flag.Duration("soak.writetimeout", 0, "ConnOptions.WriteTimeout of both ends in TestSoak (0: none)")
var soakTimeout = flag.Duration("soak.timeout", 60*time.Second, "how long each connection of TestSoak may take, from its dial to its close")

// soakWords make the compressible part of soak messages: repeats within
// a message and across messages, so that compression under context
// takeover refers back into the message and into the history.
var soakWords = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango")

// soakMessage builds message seq of a stream: 4 bytes of sequence number,
// 4 bytes of CRC-32 of the rest, then size bytes, random or, for half the
// messages, words.
func soakMessage(rng *rand.Rand, seq uint32, size int) []byte {
	b := make([]byte, 8+size)
	if rng.IntN(2) == 0 {
		for i := 8; i < len(b); i++ {
			b[i] = byte(rng.Uint32())
		}
	} else {
		for i := 8; i < len(b); {
			i += copy(b[i:], soakWords[rng.IntN(len(soakWords))]+" ")
		}
	}
	binary.BigEndian.PutUint32(b, seq)
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
	return b
}

// checkSoakMessage verifies a message and returns its sequence number.
func checkSoakMessage(t *testing.T, b []byte) uint32 {
	if len(b) < 8 || binary.BigEndian.Uint32(b[4:]) != crc32.ChecksumIEEE(b[8:]) {
		t.Errorf("corrupted message of %d bytes", len(b))
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

var soakSizes = []int{0, 10, 125, 126, 1000, 4096, 20000, 70000}

// soakSize picks a message size: one of soakSizes, or one in 500 times a
// large message of 1 MiB, which fills both sides' socket buffers while the
// peer pings.
func soakSize(rng *rand.Rand) int {
	if rng.IntN(500) == 0 {
		return 1 << 20
	}
	return soakSizes[rng.IntN(len(soakSizes))]
}

// TestSoak runs many connections exchanging sequence-numbered, checksummed
// messages both ways with two writers per side, random pings, and closes
// from either side. Nothing may be lost, duplicated, reordered or
// corrupted, every ping gets its pong, and no goroutine may be left.
// Connection i is read by a goroutine or served by a Poller on each side
// by bits 1 and 2 of i, so every pairing of the I/O models meets, with
// either side closing.
// It runs over HTTP/1.1, a TCP connection each, and over HTTP/2 (h2c),
// every connection a stream of one TCP connection.
// -soak.conns, -soak.messages and -soak.timeout scale it up
// (scripts/soak.sh).
func TestSoak(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "http1"
		if h2 {
			name = "h2c"
		}
		t.Run(name, func(t *testing.T) { soak(t, h2) })
	}
}

func soak(t *testing.T, h2 bool) {
	wstest.CheckLeaks(t)
	checkFDs(t)
	compression := CompressionOptions{Mode: CompressionContextTakeover, Threshold: 64}
	// The closer's Close waits for the peer to read its backlog of
	// messages before the close frame; on a loaded machine (the race
	// detector, an emulator, many connections) that outlasts the 5 s
	// default. What is checked here is loss and order, not time, so the
	// bound is the test's own.
	// A heartbeat whose pings go out in every lull, with a PingTimeout
	// no loaded machine outlasts: its pings meet the writers' and the
	// reader's work, and the close.
	opts := ConnOptions{
		Compression:  compression,
		CloseTimeout: *soakTimeout,
		WriteTimeout: *soakWriteTimeout,
		PingInterval: 5 * time.Millisecond,
		PingTimeout:  *soakTimeout,
	}
	inboxes := newSoakInboxes(t)
	var serverWG sync.WaitGroup
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: opts})
		if err != nil {
			t.Error(err)
			return
		}
		serverWG.Add(1)
		defer serverWG.Done()
		var p *soakInboxes
		if r.URL.Query().Get("server") == "poller" {
			p = inboxes
		}
		soakPeer(t, c, uint64(len(r.URL.Path)), r.URL.Query().Get("close") == "server", p)
		<-c.Done() // an HTTP/2 handler's return ends the stream
	})
	dopts := DialOptions{ConnOptions: opts}
	var url string
	if h2 {
		srv := newH2Server(t, false, handler)
		url = srv.url
		dopts.HTTP2 = new(HTTP2Transport)
		dopts.HTTP2Only = true
	} else {
		ts := httptest.NewServer(handler)
		defer ts.Close()
		url = "ws" + strings.TrimPrefix(ts.URL, "http")
	}
	var wg sync.WaitGroup
	for i := range *soakConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), *soakTimeout)
			defer cancel()
			closer := "client"
			if i%2 == 0 {
				closer = "server"
			}
			server, client := "goroutine", (*soakInboxes)(nil)
			if i&2 != 0 {
				server = "poller"
			}
			if i&4 != 0 { // bit 0 picks the closer: each pairing with either
				client = inboxes
			}
			c, _, err := Dial(ctx, url+"/?close="+closer+"&server="+server, &dopts)
			if err != nil {
				t.Error(err)
				return
			}
			soakPeer(t, c, uint64(i), closer == "client", client)
		}()
	}
	wg.Wait()
	serverWG.Wait()
}

// soakInboxes is the receiving half of soakPeer for connections a Poller
// serves: OnMessage checks each message against its connection's inbox.
type soakInboxes struct {
	poller *Poller
	byConn sync.Map // *Conn → *soakInbox
}

// soakInbox follows one connection's messages as soakPeer's read loop
// does, and reports when all of them and then the end arrived.
type soakInbox struct {
	n    int
	got  int
	next [2]uint32
	all  chan struct{} // closed at the n-th message
	end  chan error    // OnClose's error
}

func newSoakInboxes(t *testing.T) *soakInboxes {
	in := &soakInboxes{}
	p, err := NewPoller(PollerOptions{
		OnMessage: func(c *Conn, _ MessageType, msg []byte) {
			v, _ := in.byConn.Load(c)
			in.deliver(t, v.(*soakInbox), msg)
		},
		OnClose: func(c *Conn, err error) {
			v, _ := in.byConn.LoadAndDelete(c)
			v.(*soakInbox).end <- err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	in.poller = p
	t.Cleanup(func() { p.Close() })
	return in
}

func (in *soakInboxes) deliver(t *testing.T, box *soakInbox, msg []byte) {
	if box.got == box.n {
		t.Errorf("message beyond the %d sent", box.n)
		return
	}
	seq := checkSoakMessage(t, msg)
	if seq != box.next[seq%2] {
		t.Errorf("message %d arrived, expected %d", seq, box.next[seq%2])
	}
	box.next[seq%2] += 2
	if box.got++; box.got == box.n {
		close(box.all)
	}
}

// serve hands c to the Poller, before anything else may read it (a
// Ping reads for its pong when nothing else does, and Serve refuses a
// connection being read), for n messages.
func (in *soakInboxes) serve(c *Conn, n int) (*soakInbox, error) {
	box := &soakInbox{n: n, next: [2]uint32{0, 1}, all: make(chan struct{}), end: make(chan error, 1)}
	if n == 0 {
		close(box.all)
	}
	in.byConn.Store(c, box)
	if err := in.poller.Serve(c); err != nil {
		in.byConn.Delete(c)
		return nil, err
	}
	return box, nil
}

// awaitAll waits for the inbox's n messages.
func (box *soakInbox) awaitAll(ctx context.Context) error {
	select {
	case <-box.all:
		return nil
	case err := <-box.end:
		return fmt.Errorf("ended after %d of %d messages: %w", box.got, box.n, err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readStreamed reads the next message through Reader.
func readStreamed(ctx context.Context, c *Conn) ([]byte, error) {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// checkFDs fails the test if file descriptors opened during it are still
// open shortly after it ends (Linux only).
func checkFDs(t *testing.T) {
	if runtime.GOOS != "linux" {
		// Under Wine a Windows binary finds /proc/self/fd too, but it
		// lists Wine's own descriptors, which come and go by themselves.
		return
	}
	// The runtime opens its network poller's descriptors (an epoll
	// instance and an eventfd) on first use and keeps them: use it before
	// counting, or a test run alone counts them as its own.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	count := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return -1
		}
		return len(entries)
	}
	before := count()
	if before < 0 {
		return
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := count()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d file descriptors open before, %d after", before, n)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// soakPeer sends *soakMessages messages from two writers (sequence numbers
// interleaved per writer) and checks the peer's, then closes if it is the
// closer, or waits for the peer's close otherwise.
func soakPeer(t *testing.T, c *Conn, seed uint64, closer bool, p *soakInboxes) {
	ctx, cancel := context.WithTimeout(context.Background(), *soakTimeout)
	defer cancel()
	defer c.CloseNow()
	n := *soakMessages
	var box *soakInbox
	if p != nil {
		var err error
		if box, err = p.serve(c, n); err != nil {
			t.Errorf("served by a Poller: %v", err)
			return
		}
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for seq := w; seq < n; seq += 2 {
				msg := soakMessage(rng, uint32(seq), soakSize(rng))
				var err error
				if rng.IntN(2) == 0 {
					err = c.Write(ctx, MessageBinary, msg)
				} else {
					var wr interface {
						Write([]byte) (int, error)
						Close() error
					}
					if wr, err = c.Writer(ctx, MessageBinary); err == nil {
						for len(msg) > 0 && err == nil {
							k := min(len(msg), 1+rng.IntN(5000))
							_, err = wr.Write(msg[:k])
							msg = msg[k:]
						}
						if cerr := wr.Close(); err == nil {
							err = cerr
						}
					}
				}
				if err != nil {
					t.Errorf("write %d: %v", seq, err)
					return
				}
				if rng.IntN(10) == 0 && seq+2 < n {
					// A ping between messages, while the other writer and
					// the peer's writers go on: its pong must come back
					// (the peer still has this writer's last message to
					// read, so it is reading).
					if _, err := c.Ping(ctx); err != nil {
						t.Errorf("ping after %d: %v", seq, err)
						return
					}
				}
			}
		}()
	}
	if box != nil {
		soakServed(t, ctx, c, box, closer, &wg)
		return
	}
	// Each writer's messages must arrive in order, all of them. Some reads
	// stream the message, and some give up after a millisecond: the next
	// Read resumes the message where it stopped.
	next := [2]uint32{0, 1}
	rng := rand.New(rand.NewPCG(seed, 2))
	interrupted := false
	for got := 0; got < n; {
		var b []byte
		var err error
		switch k := rng.IntN(8); {
		case k == 0 && !interrupted:
			b, err = readStreamed(ctx, c)
		case k == 1:
			short, cancel := context.WithTimeout(ctx, time.Millisecond)
			_, b, err = c.Read(short)
			cancel()
			if interrupted = errors.Is(err, context.DeadlineExceeded); interrupted {
				continue
			}
		default:
			_, b, err = c.Read(ctx)
		}
		interrupted = false
		if err != nil {
			t.Errorf("read after %d messages: %v", got, err)
			return
		}
		got++
		seq := checkSoakMessage(t, b)
		if seq != next[seq%2] {
			t.Errorf("message %d arrived, expected %d", seq, next[seq%2])
			return
		}
		next[seq%2] += 2
	}
	wg.Wait()
	if closer {
		if err := c.Close(StatusNormalClosure, "done"); err != nil {
			t.Errorf("Close: %v", err)
		}
		return
	}
	if _, _, err := c.Read(ctx); CloseStatus(err) != StatusNormalClosure {
		t.Errorf("waiting for close: %v", err)
	}
}

// soakServed is soakPeer's second half for a connection a Poller serves:
// the messages go to OnMessage, and the end to OnClose.
func soakServed(t *testing.T, ctx context.Context, c *Conn, box *soakInbox, closer bool, writers *sync.WaitGroup) {
	if err := box.awaitAll(ctx); err != nil {
		t.Errorf("served by a Poller: %v", err)
		return
	}
	writers.Wait()
	if closer {
		if err := c.Close(StatusNormalClosure, "done"); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	select {
	case err := <-box.end:
		if CloseStatus(err) != StatusNormalClosure {
			t.Errorf("OnClose after the close: %v", err)
		}
	case <-ctx.Done():
		t.Errorf("no OnClose: %v", ctx.Err())
	}
}
