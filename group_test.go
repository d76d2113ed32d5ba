package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

func TestGroupShutdown(t *testing.T) {
	wstest.CheckLeaks(t)
	var g Group
	const n = 5
	accepted := make(chan *Conn, n)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		accepted <- c
		// The handler reads so that the closing handshake completes.
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	ctx := testCtx(t)
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	var clients []*Conn
	for range n {
		c, _, err := Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		clients = append(clients, c)
	}
	for range n {
		sc := await(t, accepted, "the accepted Conn")
		// A message written before the shutdown must arrive before the close.
		if err := sc.Write(ctx, MessageText, []byte("last words")); err != nil {
			t.Fatal(err)
		}
	}
	if g.Len() != n {
		t.Fatalf("group has %d connections", g.Len())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- g.Shutdown(sctx, "maintenance") }()
	for _, c := range clients {
		_, msg, err := c.Read(ctx)
		if err != nil || string(msg) != "last words" {
			t.Fatalf("before close: %q %v", msg, err)
		}
		_, _, err = c.Read(ctx)
		if CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client saw %v", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if g.Len() != 0 {
		t.Fatalf("%d connections left", g.Len())
	}
	// Connections arriving after the shutdown are turned away with 1001.
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("late client saw %v", err)
	}
}

// groupServer serves connections that join g: those dialed with
// ?poller=1 are handed to p, the others read by their handler until they
// end. Accepted connections are sent on the returned channel.
func groupServer(t *testing.T, g *Group, p *Poller) (url string, accepted <-chan *Conn) {
	t.Helper()
	ch := make(chan *Conn, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Group: g})
		if err != nil {
			return
		}
		ch <- c
		if r.URL.Query().Get("poller") != "" {
			p.Serve(c)
			return
		}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), ch
}

func TestGroupBroadcast(t *testing.T) {
	wstest.CheckLeaks(t)
	p, err := NewPoller(PollerOptions{OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var g Group
	url, accepted := groupServer(t, &g, p)
	ctx := testCtx(t)
	var clients []*Conn
	for i := range 6 {
		u := url
		if i%2 == 1 {
			u += "?poller=1" // served by a loop: written to without a goroutine
		}
		c, _, err := Dial(ctx, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		clients = append(clients, c)
		await(t, accepted, "the accepted Conn")
	}
	n := 0
	for range g.All() {
		n++
	}
	if n != len(clients) || g.Len() != len(clients) {
		t.Fatalf("All yields %d connections, Len is %d, want %d", n, g.Len(), len(clients))
	}
	for _, text := range []string{"first", "second", "third"} {
		pm, err := NewPreparedMessage(MessageText, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		dropped := g.Broadcast(bctx, pm)
		cancel()
		if dropped != nil {
			t.Fatalf("Broadcast dropped %d connections", len(dropped))
		}
	}
	// Successive broadcasts arrive in order.
	for i, c := range clients {
		for _, want := range []string{"first", "second", "third"} {
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != want {
				t.Fatalf("client %d: %q %v, want %q", i, msg, err, want)
			}
		}
	}
	// Leaving the loop early stops the iteration.
	n = 0
	for range g.All() {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d iterations after break", n)
	}
	for _, c := range clients {
		go c.Read(ctx) // answers the close
	}
	if err := g.Shutdown(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

// slowGroup puts two server connections over pipes in a group: one whose
// client reads everything into msgs, and one whose client reads nothing.
func slowGroup(t *testing.T, sopts *ConnOptions) (g *Group, fast, slow, slowServer *Conn, msgs <-chan string) {
	g = new(Group)
	fast, fastServer := pipePair(nil, sopts)
	slow, slowServer = pipePair(nil, sopts)
	ch := make(chan string, 16)
	for _, s := range []*Conn{fastServer, slowServer} {
		s.extra().group = g
		g.add(s)
		t.Cleanup(func() { s.CloseNow() })
	}
	t.Cleanup(func() {
		fast.CloseNow()
		slow.CloseNow()
	})
	go func() {
		for {
			_, msg, err := fast.Read(context.Background())
			if err != nil {
				return
			}
			ch <- string(msg)
		}
	}()
	return g, fast, slow, slowServer, ch
}

func TestGroupBroadcastDropsSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, slow, slowServer, msgs := slowGroup(t, &ConnOptions{CloseTimeout: 30 * time.Second})
		serverErr := make(chan error, 1)
		go func() {
			_, _, err := slowServer.Read(context.Background())
			serverErr <- err
		}()
		pm, _ := NewPreparedMessage(MessageText, []byte("news"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		dropped := g.Broadcast(ctx, pm)
		if len(dropped) != 1 || dropped[0] != slowServer {
			t.Fatalf("dropped %v, want the slow connection", dropped)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Broadcast returned after %v, want ctx's second", d)
		}
		if got := <-msgs; got != "news" {
			t.Fatalf("fast client got %q", got)
		}
		// The dropped connection gets no more messages; the others do, at once.
		pm2, _ := NewPreparedMessage(MessageText, []byte("more news"))
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		start = time.Now()
		if dropped := g.Broadcast(ctx2, pm2); dropped != nil || time.Since(start) != 0 {
			t.Fatalf("second Broadcast dropped %v after %v", dropped, time.Since(start))
		}
		if got := <-msgs; got != "more news" {
			t.Fatalf("fast client got %q", got)
		}
		// The slow client, reading at last within CloseTimeout, gets the
		// message being written when it was dropped, then 1008.
		if _, msg, err := slow.Read(context.Background()); err != nil || string(msg) != "news" {
			t.Fatalf("slow client: %q %v", msg, err)
		}
		_, _, err := slow.Read(context.Background())
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusPolicyViolation || ce.Reason != "too slow" {
			t.Fatalf("slow client: %v, want 1008 too slow", err)
		}
		// The server's Read reports the drop, or the client's answer to the
		// close frame when it reads that first.
		err = await(t, serverErr, "the server's read error")
		var perr *ProtocolError
		if !(errors.Is(err, ErrSlowConsumer) && errors.As(err, &perr) && perr.Code == StatusPolicyViolation) && CloseStatus(err) != StatusPolicyViolation {
			t.Fatalf("server Read: %v, want ErrSlowConsumer or the echo of 1008", err)
		}
		if g.Len() != 1 {
			t.Fatalf("group has %d connections, want 1", g.Len())
		}
	})
}

// TestGroupBroadcastDroppedTwice: two Broadcasts that both find a member
// too slow drop it twice, and the peer still gets the frame being written
// and then 1008, as after one drop. The second drop found the close frame
// queued by the first and closed the connection at once, cutting the
// frame in flight and the close frame with it. So did a drop of a
// connection whose Close had queued its frame (the same path).
func TestGroupBroadcastDroppedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, slow, slowServer, msgs := slowGroup(t, &ConnOptions{CloseTimeout: 30 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		dropped := make(chan []*Conn, 2)
		for _, text := range []string{"news", "more news"} {
			pm, _ := NewPreparedMessage(MessageText, []byte(text))
			go func() { dropped <- g.Broadcast(ctx, pm) }()
			synctest.Wait() // the first writes to the slow member, the second waits for it
		}
		for range 2 {
			if d := <-dropped; len(d) != 1 || d[0] != slowServer {
				t.Fatalf("dropped %v, want the slow connection", d)
			}
		}
		for range 2 {
			<-msgs // the fast client's
		}
		if slowServer.isClosed() {
			t.Fatal("the second drop closed the connection at once")
		}
		if _, msg, err := slow.Read(context.Background()); err != nil || string(msg) != "news" {
			t.Fatalf("slow client: %q %v, want the message being written when it was dropped", msg, err)
		}
		_, _, err := slow.Read(context.Background())
		if ce := (*CloseError)(nil); !errors.As(err, &ce) || ce.Code != StatusPolicyViolation {
			t.Fatalf("slow client: %v, want 1008", err)
		}
	})
}

// TestGroupBroadcastSlowConsumerGone: a dropped peer that does not read
// within CloseTimeout is disconnected without the close frame.
func TestGroupBroadcastSlowConsumerGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, slow, slowServer, _ := slowGroup(t, &ConnOptions{CloseTimeout: 3 * time.Second})
		serverErr := make(chan error, 1)
		go func() {
			_, _, err := slowServer.Read(context.Background())
			serverErr <- err
		}()
		pm, _ := NewPreparedMessage(MessageBinary, make([]byte, 1000))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if dropped := g.Broadcast(ctx, pm); len(dropped) != 1 {
			t.Fatalf("dropped %d connections", len(dropped))
		}
		if err := <-serverErr; !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("server Read: %v", err)
		}
		if d := time.Since(start); d != 4*time.Second {
			t.Errorf("connection closed after %v, want ctx's 1s and CloseTimeout's 3s", d)
		}
		if _, _, err := slow.Read(context.Background()); CloseStatus(err) != StatusAbnormalClosure {
			t.Fatalf("slow client: %v, want 1006", err)
		}
	})
}

// TestGroupBroadcastPollerBackPressure: a Poller-served peer that does not
// read is written to without a goroutine until its queue passes
// WriteQueueLimit; from then on Broadcast waits for room as long as ctx
// allows, drops it, and the reading peer got every message meanwhile.
func TestGroupBroadcastPollerBackPressure(t *testing.T) {
	wstest.CheckLeaks(t)
	p, err := NewPoller(PollerOptions{
		OnMessage:       func(*Conn, MessageType, []byte) {},
		WriteQueueLimit: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var g Group
	url, accepted := groupServer(t, &g, p)
	ctx := testCtx(t)
	dial := func() (*Conn, *Conn) {
		c, _, err := Dial(ctx, url+"?poller=1", &DialOptions{ConnOptions: ConnOptions{ReadLimit: -1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, await(t, accepted, "the accepted Conn")
	}
	fast, _ := dial()
	_, slowServer := dial()
	got := make(chan int, 1000)
	go func() {
		for {
			_, msg, err := fast.Read(ctx)
			if err != nil {
				close(got)
				return
			}
			got <- int(msg[0])
		}
	}()
	msg := make([]byte, 256<<10)
	sent := 0
	for ; sent < 200; sent++ {
		msg[0] = byte(sent)
		pm, _ := NewPreparedMessage(MessageBinary, msg)
		bctx, cancel := context.WithTimeout(ctx, time.Second)
		dropped := g.Broadcast(bctx, pm)
		cancel()
		if len(dropped) > 0 {
			if len(dropped) != 1 || dropped[0] != slowServer {
				t.Fatalf("message %d: dropped %d connections, not the slow one", sent, len(dropped))
			}
			break
		}
	}
	if sent == 200 {
		t.Fatal("the peer that does not read was never dropped")
	}
	for i := 0; i <= sent; i++ {
		if n, ok := <-got; !ok || n != i%256 {
			t.Fatalf("reading peer got message %d (ok %v), want %d", n, ok, i)
		}
	}
	t.Logf("dropped at message %d", sent)
}

// TestDoneAfterGroupAndSocket: Done closes only once the connection has
// left its group and its socket is closed, whichever goroutine ends it.
// It used to close first, so Len still counted a connection Done reported
// ended (a few times in a hundred).
func TestDoneAfterGroupAndSocket(t *testing.T) {
	for i := range 50 {
		var g Group
		client, server := pair(t, &AcceptOptions{Group: &g}, nil)
		go server.Read(context.Background()) // ends the connection on the client's close
		client.CloseNow()
		await(t, server.Done(), "the server Conn's end")
		if n := g.Len(); n != 0 {
			t.Fatalf("run %d: Len %d after Done", i, n)
		}
		if err := server.nc.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("run %d: the socket is still open after Done (SetDeadline: %v)", i, err)
		}
	}
}

// TestGroupShutdownBadReason: a reason Close would refuse still ends every
// member (as Close does, without a handshake) and Shutdown reports it,
// rather than return nil with every peer seeing 1006.
func TestGroupShutdownBadReason(t *testing.T) {
	var g Group
	client, _ := pair(t, &AcceptOptions{Group: &g}, nil)
	waitForMembers(t, &g, 1)
	err := g.Shutdown(testCtx(t), strings.Repeat("x", 124))
	if err == nil || !strings.Contains(err.Error(), "close reason") {
		t.Fatalf("Shutdown with a 124-byte reason: %v, want the reason refused", err)
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("%d members left after Shutdown", n)
	}
	if _, _, err := client.Read(testCtx(t)); CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("member's peer read %v, want the end of the connection", err)
	}
}

// waitForMembers waits until g has n members.
func waitForMembers(t *testing.T, g *Group, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); g.Len() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d members, want %d", g.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupShutdownEndedCtx: Shutdown given a ctx that has already ended
// drops every member without a close frame, as CloseContext does with
// one: the members see 1006, none of them 1001, and Shutdown returns
// ctx's error.
func TestGroupShutdownEndedCtx(t *testing.T) {
	var g Group
	var clients []*Conn
	for range 8 {
		c, _ := pair(t, &AcceptOptions{Group: &g}, nil)
		clients = append(clients, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Shutdown(ctx, "bye"); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v; want context.Canceled", err)
	}
	for i, c := range clients {
		if _, _, err := c.Read(testCtx(t)); CloseStatus(err) != StatusAbnormalClosure {
			t.Errorf("member %d: %v; want the connection dropped (1006)", i, err)
		}
	}
}
