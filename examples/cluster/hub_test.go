package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/internal/wstest"
)

// These tests run servers inside the test process, each with its embedded
// NATS server, clustered with routes when there are several. The test
// with real processes behind nginx is in cluster_test.go.

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkLeaks fails t if goroutines started during the test are still
// running shortly after it ends. Call it first, so that its check runs
// after every other cleanup.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before the test, %d after:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// freePort returns a TCP port on 127.0.0.1 that is free, for a NATS
// server to listen on later; wstest.FreePort says how it is chosen.
func freePort(t *testing.T) int {
	t.Helper()
	return wstest.FreePort(t)
}

// inProc is a server running in the test process.
type inProc struct {
	node    string
	url     string // ws://…/ws
	http    string // http://…
	stop    context.CancelFunc
	done    chan error
	stopped sync.Once
}

// startInProc runs servers named after nodes in the test process, clustered
// when there are several, and waits until each hears every other's
// heartbeat. They are stopped at the end of the test.
func startInProc(t *testing.T, nodes []string, extra ...string) []*inProc {
	t.Helper()
	ports := make([]int, len(nodes))
	for i := range nodes {
		ports[i] = freePort(t)
	}
	args := make([][]string, len(nodes))
	for i := range nodes {
		args[i] = slices.Clone(extra)
		if len(nodes) > 1 {
			var routes []string
			for j, p := range ports {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
				}
			}
			args[i] = append(args[i], "-cluster", fmt.Sprintf("127.0.0.1:%d", ports[i]), "-routes", strings.Join(routes, ","))
		}
	}
	return startInProcArgs(t, nodes, args)
}

// startInProcArgs runs servers named after nodes with their own arguments
// and waits until each hears every other's heartbeat.
func startInProcArgs(t *testing.T, nodes []string, nodeArgs [][]string) []*inProc {
	t.Helper()
	var servers []*inProc
	for i, node := range nodes {
		args := append([]string{"-addr", "127.0.0.1:0", "-node", node, "-heartbeat", "200ms"}, nodeArgs[i]...)
		s := &inProc{node: node, done: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		pr, pw := io.Pipe()
		go func() {
			err := run(ctx, args, pw, t.Output())
			pw.Close()
			s.done <- err
		}()
		sc := bufio.NewScanner(pr)
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening on http://") {
			cancel()
			t.Fatalf("%s: no listening line: %q %v", node, sc.Text(), <-s.done)
		}
		go io.Copy(io.Discard, pr)
		s.http = strings.TrimPrefix(sc.Text(), "listening on ")
		s.url = "ws" + strings.TrimPrefix(s.http, "http") + "/ws"
		servers = append(servers, s)
		t.Cleanup(func() { s.shutdown(t) })
	}
	ctx := testCtx(t, 20*time.Second)
	for _, s := range servers {
		for {
			h := s.health(t)
			if len(h.Nodes) == len(nodes) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s hears from %v, want %v", s.node, h.Nodes, nodes)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return servers
}

// shutdown stops s as SIGTERM would and waits for it.
func (s *inProc) shutdown(t *testing.T) {
	s.stopped.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("%s: %v", s.node, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", s.node)
		}
	})
}

func (s *inProc) health(t *testing.T) health {
	t.Helper()
	resp, err := http.Get(s.http + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// peer is a raw client: the test decides when it reads.
type peer struct {
	t    *testing.T
	name string
	conn *websocket.Conn
	id   string
}

// frame is any message from the server.
type frame struct {
	event
	Members []memberInfo `json:"members"`
}

func dial(ctx context.Context, t *testing.T, url, room, name string) *peer {
	t.Helper()
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?room=%s&name=%s", url, room, name), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	p := &peer{t: t, name: name, conn: c}
	w := p.next(ctx)
	if w.Type != "welcome" || w.Name != name || w.Room != room {
		t.Fatalf("%s: first message %+v, want a welcome", name, w)
	}
	p.id = w.ID
	// Its own join, back from the bus, says the fan-out reaches it.
	p.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == p.id })
	return p
}

func (p *peer) next(ctx context.Context) frame {
	p.t.Helper()
	_, msg, err := p.conn.Read(ctx)
	if err != nil {
		p.t.Fatalf("%s: read: %v", p.name, err)
	}
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		p.t.Fatalf("%s: %q: %v", p.name, msg, err)
	}
	return f
}

// await reads until a frame matches and returns it.
func (p *peer) await(ctx context.Context, match func(frame) bool) frame {
	p.t.Helper()
	for {
		if f := p.next(ctx); match(f) {
			return f
		}
	}
}

func (p *peer) say(ctx context.Context, text string, seq uint64) {
	p.t.Helper()
	msg := marshal(inbound{Text: text, Seq: &seq})
	if err := p.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
}

func TestRoomsAcrossServers(t *testing.T) {
	checkLeaks(t)
	servers := startInProc(t, []string{"a", "b"})
	ctx := testCtx(t, 30*time.Second)

	ann := dial(ctx, t, servers[0].url, "r1", "ann")
	bob := dial(ctx, t, servers[1].url, "r1", "bob")
	ann.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == bob.id && f.Node == "b" })
	other := dial(ctx, t, servers[1].url, "r2", "cat")

	// A newcomer's welcome lists the room on both servers.
	dan, _, err := websocket.Dial(ctx, servers[0].url+"?room=r1&name=dan", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dan.CloseNow()
	d := &peer{t: t, name: "dan", conn: dan}
	w := d.next(ctx)
	if len(w.Members) != 2 || w.Members[0].ID != ann.id || w.Members[1].ID != bob.id {
		t.Errorf("dan's welcome lists %+v, want ann (%s) and bob (%s)", w.Members, ann.id, bob.id)
	}
	d.id = w.ID
	d.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == d.id })

	for i := range uint64(50) {
		bob.say(ctx, fmt.Sprint("hello ", i), i)
	}
	other.say(ctx, "elsewhere", 0)
	for _, p := range []*peer{ann, bob, d} {
		for i := range uint64(50) {
			f := p.await(ctx, func(f frame) bool { return f.Type == "msg" })
			if f.ID != bob.id || f.Name != "bob" || f.Node != "b" || f.Seq == nil || *f.Seq != i || f.Text != fmt.Sprint("hello ", i) {
				t.Fatalf("%s: message %d is %+v", p.name, i, f)
			}
		}
	}
	// Nothing from r2 reached r1: the next message ann sees is the next one said in r1.
	ann.say(ctx, "last", 0)
	if f := d.await(ctx, func(f frame) bool { return f.Type == "msg" }); f.Text != "last" {
		t.Errorf("dan got %+v, want ann's last", f)
	}

	// Leaving is seen on the other server, with the reason.
	bob.conn.Close(websocket.StatusNormalClosure, "")
	f := ann.await(ctx, func(f frame) bool { return f.Type == "leave" })
	if f.ID != bob.id || f.Reason != "closed" {
		t.Errorf("ann saw %+v, want bob's leave", f)
	}
}

// TestExternalNATS runs one server as the NATS server of another, which
// embeds none (-nats).
func TestExternalNATS(t *testing.T) {
	checkLeaks(t)
	port := freePort(t)
	servers := startInProcArgs(t, []string{"a", "b"}, [][]string{
		{"-nats-listen", fmt.Sprintf("127.0.0.1:%d", port)},
		{"-nats", fmt.Sprintf("nats://127.0.0.1:%d", port)},
	})
	ctx := testCtx(t, 30*time.Second)
	ann := dial(ctx, t, servers[0].url, "r", "ann")
	bob := dial(ctx, t, servers[1].url, "r", "bob")
	ann.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == bob.id })
	bob.say(ctx, "hi", 1)
	if f := ann.await(ctx, func(f frame) bool { return f.Type == "msg" }); f.Text != "hi" || f.Node != "b" {
		t.Errorf("ann got %+v, want bob's hi", f)
	}
	if h := servers[1].health(t); h.Routes != 0 {
		t.Errorf("b reports %d routes; it embeds no NATS server", h.Routes)
	}
}

func TestSlowConsumerDropped(t *testing.T) {
	checkLeaks(t)
	servers := startInProc(t, []string{"a"}, "-send-queue", "64", "-max-lag", "30s")
	ctx := testCtx(t, 30*time.Second)
	fast := dial(ctx, t, servers[0].url, "r", "fast")
	slow := dial(ctx, t, servers[0].url, "r", "slow")
	fast.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == slow.id })

	// slow reads nothing while fast says 500 things, a millisecond apart,
	// reading each back: the fan-out never waits for slow, and a member
	// that keeps up is never dropped. (Unpaced, a reader that keeps up
	// could be counted 64 behind within the few milliseconds a pong may
	// wait for the scheduler; the default queue is 256.)
	// slow's leave is announced as it is dropped, among the messages.
	const n = 500
	var leave *frame
	for i := range uint64(n) {
		time.Sleep(time.Millisecond)
		fast.say(ctx, "x", i)
		f := fast.await(ctx, func(f frame) bool {
			if f.Type == "leave" {
				leave = &f
			}
			return f.Type == "msg"
		})
		if *f.Seq != i {
			t.Fatalf("fast got message %d, want %d", *f.Seq, i)
		}
	}
	if leave == nil || leave.ID != slow.id || leave.Reason != "too slow" {
		t.Errorf("fast saw leave %+v, want slow's for being too slow", leave)
	}

	// slow now reads: at most a queue's worth of messages, then 1008.
	readStart := time.Now()
	got := 0
	for {
		_, _, err := slow.conn.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
				t.Errorf("slow was closed with %v (%v), want 1008", code, err)
			}
			break
		}
		got++
	}
	if got > 64+1 || got < 1 {
		t.Errorf("slow read %d messages before its close, want 1 to 65", got)
	}
	t.Logf("slow read %d messages, then was closed with 1008, in %v", got, time.Since(readStart))
}

func TestShutdownGoingAway(t *testing.T) {
	checkLeaks(t)
	servers := startInProc(t, []string{"a", "b"})
	ctx := testCtx(t, 30*time.Second)
	ann := dial(ctx, t, servers[0].url, "r", "ann")
	bob := dial(ctx, t, servers[1].url, "r", "bob")
	ann.await(ctx, func(f frame) bool { return f.Type == "join" && f.ID == bob.id })

	// bob reads, so that its side answers the close.
	bobErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := bob.conn.Read(ctx); err != nil {
				bobErr <- err
				return
			}
		}
	}()
	start := time.Now()
	servers[1].shutdown(t)
	t.Logf("b shut down in %v", time.Since(start))
	if err := <-bobErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("bob was closed with %v (%v), want 1001", websocket.CloseStatus(err), err)
	}
	f := ann.await(ctx, func(f frame) bool { return f.Type == "leave" })
	if f.ID != bob.id || f.Reason != "server shutting down" {
		t.Errorf("ann saw %+v, want bob's leave for the shutdown", f)
	}
	// b's last heartbeat said bye: a forgets it at once, without waiting
	// for three heartbeats (600ms here) to pass without one.
	deadline := time.Now().Add(400 * time.Millisecond)
	for h := servers[0].health(t); len(h.Nodes) != 1; h = servers[0].health(t) {
		if time.Now().After(deadline) {
			t.Fatalf("a still hears from %v after b said bye", h.Nodes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadClients(t *testing.T) {
	checkLeaks(t)
	servers := startInProc(t, []string{"a"})
	ctx := testCtx(t, 30*time.Second)
	for _, tc := range []struct {
		name  string
		query string
		want  int
	}{
		{
			name:  "no name",
			query: "?room=r",
			want:  http.StatusBadRequest,
		},
		{
			name:  "room not a subject token",
			query: "?room=a.b&name=x",
			want:  http.StatusBadRequest,
		},
		{
			name:  "room with a wildcard",
			query: "?room=*&name=x",
			want:  http.StatusBadRequest,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := websocket.Dial(ctx, servers[0].url+tc.query, nil)
			if err == nil || resp == nil || resp.StatusCode != tc.want {
				t.Errorf("Dial: %v, %v; want status %d", err, resp, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		want websocket.StatusCode
	}{
		{
			name: "binary",
			typ:  websocket.MessageBinary,
			msg:  `{"text":"x"}`,
			want: websocket.StatusUnsupportedData,
		},
		{
			name: "not JSON",
			typ:  websocket.MessageText,
			msg:  `hello`,
			want: websocket.StatusInvalidFramePayloadData,
		},
		{
			name: "no text",
			typ:  websocket.MessageText,
			msg:  `{"seq":1}`,
			want: websocket.StatusInvalidFramePayloadData,
		},
		{
			name: "too big",
			typ:  websocket.MessageText,
			msg:  `{"text":"` + strings.Repeat("x", maxMessageSize) + `"}`,
			want: websocket.StatusMessageTooBig,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(ctx, t, servers[0].url, "r", "x")
			if err := p.conn.Write(ctx, tc.typ, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			for {
				_, _, err := p.conn.Read(ctx)
				if err != nil {
					if code := websocket.CloseStatus(err); code != tc.want {
						t.Errorf("closed with %v (%v), want %v", code, err, tc.want)
					}
					return
				}
			}
		})
	}
}

// TestLargestEventFitsQueueShare: the largest event a member can cause,
// its text and name all U+2028 (which JSON escapes to 6 bytes from 3),
// fits the share of WriteQueueLimit each of sendQueue events is given, so
// that the count bound always drops a slow member before the byte bound
// is reached: past it, a fan-out write waits for room. The share had
// counted an event as its message's size; events of twice that filled
// the queue first, and one stalled member's wait ended the fan-out's ctx
// for every member after it.
func TestLargestEventFitsQueueShare(t *testing.T) {
	// The message as a client may send it: U+2028 as raw UTF-8.
	text := strings.Repeat("\u2028", (maxMessageSize-len(`{"text":""}`))/3)
	if n := len(`{"text":"` + text + `"}`); n > maxMessageSize {
		t.Fatalf("the test's message is %d bytes, over maxMessageSize", n)
	}
	seq := uint64(1<<64 - 1)
	ev := event{
		Type: "msg",
		Room: strings.Repeat("r", 32),
		ID:   "node-with-a-long-name-18446744073709551615",
		Name: strings.Repeat("\u2028", maxNameSize/3),
		Node: "node-with-a-long-name",
		Seq:  &seq,
		Text: text,
	}
	o := hubOptions{sendQueue: 256}
	if n, share := len(marshal(ev)), o.writeQueueLimit()/o.sendQueue; n > share {
		t.Errorf("the largest event is %d bytes, over its share of WriteQueueLimit, %d", n, share)
	}
}
