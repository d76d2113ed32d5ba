package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket"
)

// The hub is the WebSocket side of one server: it accepts members, hands
// their connections to a websocket.Poller, publishes what they say on the
// bus, and fans out what arrives from the bus to the members of each room
// connected here.
//
// # Fan-out
//
// Everything from the bus arrives on one goroutine, in bus order. For a
// chat message the hub frames the bytes once, as a websocket.PreparedMessage,
// and writes that frame to each local member of the room. A write to a
// connection served by a Poller never waits for the socket (on Linux,
// where the Poller uses epoll): what the socket does not take is queued
// for that connection alone. So one member that reads slowly delays no
// one, and every member receives the events of the bus in the same order.
//
// # Slow consumers
//
// Each member has a bounded send queue, in messages: those written to it
// that it has not yet been seen to read. Reading is confirmed with a
// WebSocket ping, which every client answers once it has read everything
// before the ping: after every probeEvery messages the hub pings the
// member from a goroutine of its own, and the pong confirms all messages
// written before that ping. A member is dropped, with close code 1008
// (policy violation) and the reason "too slow", when
//
//   - a message would leave more than sendQueue messages unconfirmed, or
//   - a ping is not answered within maxLag.
//
// The close frame goes out behind what is already queued, so a client
// that reads slowly learns why it was dropped and can reconnect (and
// loses what it missed meanwhile: delivery is at most once). The Poller's
// own WriteQueueLimit stays as a byte bound behind this one, set above
// what sendQueue messages can take: a connection reaching it is closed at
// once, without a close frame. No goroutine exists for a member that is
// idle or keeps up; one exists while a probe waits for its pong.

// hubOptions configures a hub.
type hubOptions struct {
	node           string
	sendQueue      int           // messages a member may leave unread
	probeEvery     int           // messages between two pings
	maxLag         time.Duration // how long a ping may go unanswered
	heartbeat      time.Duration // how often the server announces its members
	originPatterns []string
}

// writeQueueLimit is the Poller's byte bound per connection: sendQueue
// events of the largest size fit below it. An event's text may encode to
// twice the bytes it came in (JSON escapes U+2028 and U+2029, 3 bytes of
// UTF-8, as \u2028, 6 bytes), and a write from the subscription's
// goroutine past the bound waits for room: the count bound must always
// come first.
func (o hubOptions) writeQueueLimit() int {
	return max(o.sendQueue*(2*maxMessageSize+512), websocket.DefaultWriteQueueLimit)
}

// writeTimeout bounds each write of a fan-out. With epoll they never
// wait; elsewhere the Poller serves each connection with a goroutine and
// a write may wait for the socket, and this is how long.
const writeTimeout = time.Second

// hub serves the members connected to this server.
type hub struct {
	opts   hubOptions
	bus    *bus
	log    *log.Logger
	poller *websocket.Poller
	group  websocket.Group
	accept websocket.AcceptOptions
	mux    *http.ServeMux

	conns sync.Map // *websocket.Conn → *member

	mu sync.Mutex
	// rooms holds the local members of each room. A slice is replaced,
	// never modified, so the fan-out uses it without holding mu.
	rooms   map[string][]*member
	view    *presence
	nextID  uint64
	closing bool
	members sync.WaitGroup // one count per member until its OnClose
}

// member is one connection.
type member struct {
	memberInfo
	conn *websocket.Conn

	sent      atomic.Uint64 // messages written by the fan-out
	confirmed atomic.Uint64 // of those, how many the client has read, as far as a pong told
	probing   atomic.Bool   // a probe goroutine is running
	gone      atomic.Bool   // dropped or closed: write nothing more
	left      bool          // out of the room and announced; guarded by hub.mu
}

func (m *member) event(typ, reason string) event {
	return event{Type: typ, Room: m.Room, ID: m.ID, Name: m.Name, Node: m.Node, Reason: reason}
}

func newHub(opts hubOptions, b *bus, logger *log.Logger) (*hub, error) {
	h := &hub{
		opts:  opts,
		bus:   b,
		log:   logger,
		mux:   http.NewServeMux(),
		rooms: make(map[string][]*member),
		view:  newPresence(opts.node),
	}
	h.accept = websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{
			ReadLimit: maxMessageSize,
			// The heartbeat finds peers that vanished without a word.
			PingInterval: 30 * time.Second,
		},
		OriginPatterns: opts.originPatterns,
		Group:          &h.group,
	}
	var err error
	h.poller, err = websocket.NewPoller(websocket.PollerOptions{
		OnMessage:       h.onMessage,
		OnClose:         h.onClose,
		WriteQueueLimit: opts.writeQueueLimit(),
	})
	if err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /{$}", servePage)
	h.mux.HandleFunc("GET /ws", h.serveWS)
	h.mux.HandleFunc("GET /healthz", h.serveHealth)
	return h, nil
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// serveWS makes a member of a client: /ws?room=ROOM&name=NAME.
func (h *hub) serveWS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	room, name := q.Get("room"), q.Get("name")
	if room == "" {
		room = "lobby"
	}
	if !roomPattern.MatchString(room) {
		http.Error(w, "room must be 1 to 32 of A-Z a-z 0-9 _ -", http.StatusBadRequest)
		return
	}
	if !validName(name) {
		http.Error(w, fmt.Sprintf("name must be 1 to %d bytes of UTF-8", maxNameSize), http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &h.accept)
	if err != nil {
		return // Accept has answered, or closed with 1001 while shutting down
	}
	if !h.join(c, room, name) {
		c.Close(websocket.StatusGoingAway, "server shutting down")
	}
}

// join adds c to room as a new member: it announces the member on the
// bus, sends it the welcome with the room as known here, and from then on
// fans out to it. It reports false once shutdown has begun.
func (h *hub) join(c *websocket.Conn, room, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.nextID++
	m := &member{
		memberInfo: memberInfo{ID: fmt.Sprintf("%s-%d", h.opts.node, h.nextID), Name: name, Node: h.opts.node, Room: room},
		conn:       c,
	}
	h.conns.Store(c, m)
	if err := h.poller.Serve(c); err != nil {
		h.conns.Delete(c)
		return false
	}
	h.members.Add(1)
	// OnClose waits for mu: all of this happens before m can leave.
	// The join goes out before the welcome, so before anything m says.
	h.bus.publish(roomSubject(room, "join"), marshal(m.event("join", "")))
	w := welcome{Type: "welcome", Room: room, ID: m.ID, Name: name, Node: m.Node, Members: h.view.roster(room)}
	// Served by the poller: the write is queued if need be, never waits.
	c.Write(context.Background(), websocket.MessageText, marshal(w))
	h.rooms[room] = append(slices.Clip(h.rooms[room]), m)
	return true
}

// onClose is the Poller's OnClose: the member leaves.
func (h *hub) onClose(c *websocket.Conn, err error) {
	v, ok := h.conns.LoadAndDelete(c)
	if !ok {
		return
	}
	m := v.(*member)
	m.gone.Store(true)
	h.leave(m, "closed")
	h.members.Done()
}

// leave takes m out of its room and announces it, once: when it is
// dropped, or else when its connection ends.
func (h *hub) leave(m *member, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left {
		return
	}
	m.left = true
	if h.closing && reason == "closed" {
		reason = "server shutting down"
	}
	left := slices.DeleteFunc(slices.Clone(h.rooms[m.Room]), func(x *member) bool { return x == m })
	if len(left) == 0 {
		delete(h.rooms, m.Room)
	} else {
		h.rooms[m.Room] = left
	}
	h.bus.publish(roomSubject(m.Room, "leave"), marshal(m.event("leave", reason)))
}

// onMessage is the Poller's OnMessage: a member says something. It runs
// on a poller loop, so it only checks, encodes and hands over to NATS.
func (h *hub) onMessage(c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	v, ok := h.conns.Load(c)
	if !ok {
		return
	}
	m := v.(*member)
	if m.gone.Load() {
		return // dropped: out of the room already
	}
	if typ != websocket.MessageText {
		c.Close(websocket.StatusUnsupportedData, "text messages only")
		return
	}
	var in inbound
	if err := json.Unmarshal(msg, &in); err != nil || in.Text == "" {
		c.Close(websocket.StatusInvalidFramePayloadData, `expected {"text": "..."}`)
		return
	}
	ev := m.event("msg", "")
	ev.Seq, ev.Text = in.Seq, in.Text
	h.bus.publish(roomSubject(m.Room, "msg"), marshal(ev))
}

func roomSubject(room, kind string) string { return "room." + room + "." + kind }

// onBus handles everything that arrives from NATS, on NATS's goroutine
// for the subscription, one event at a time.
func (h *hub) onBus(subject string, data []byte) {
	kind, rest, _ := strings.Cut(subject, ".")
	switch kind {
	case "room":
		room, typ, _ := strings.Cut(rest, ".")
		switch typ {
		case "msg":
			h.mu.Lock()
			members := h.rooms[room]
			h.mu.Unlock()
			h.fanOut(members, data)
		case "join", "leave":
			var ev event
			if err := json.Unmarshal(data, &ev); err != nil || ev.Room != room {
				h.log.Printf("bus: bad %s event: %q", typ, data)
				return
			}
			m := memberInfo{ID: ev.ID, Name: ev.Name, Node: ev.Node, Room: ev.Room}
			h.mu.Lock()
			changed := typ == "join" && h.view.join(m) || typ == "leave" && h.view.leave(m)
			members := h.rooms[room]
			h.mu.Unlock()
			if changed {
				h.fanOut(members, data)
			}
		}
	case "node":
		var hb heartbeat
		if err := json.Unmarshal(data, &hb); err != nil || hb.Node != rest {
			h.log.Printf("bus: bad heartbeat: %q", data)
			return
		}
		type out struct {
			members []*member
			data    []byte
		}
		var outs []out
		h.mu.Lock()
		for _, ev := range h.view.heartbeat(hb) {
			if ev.Type == "leave" && ev.Reason == "server lost" {
				h.log.Printf("presence: %s (%s in %s) gone with server %s", ev.ID, ev.Name, ev.Room, ev.Node)
			}
			outs = append(outs, out{h.rooms[ev.Room], marshal(ev)})
		}
		h.mu.Unlock()
		for _, o := range outs {
			h.fanOut(o.members, o.data)
		}
	}
}

// fanOut sends data to members, framing it once.
func (h *hub) fanOut(members []*member, data []byte) {
	if len(members) == 0 {
		return
	}
	pm, err := websocket.NewPreparedMessage(websocket.MessageText, data)
	if err != nil {
		panic(err) // only an invalid message type makes it fail
	}
	for _, m := range members {
		// A ctx per write: one member's write that waits out its bound
		// must not leave the writes after it an ended ctx, which would
		// drop healthy members as too slow.
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		h.deliver(ctx, m, pm)
		cancel()
	}
}

// deliver writes pm to m, or drops m if it is too far behind.
func (h *hub) deliver(ctx context.Context, m *member, pm *websocket.PreparedMessage) {
	if m.gone.Load() {
		return
	}
	if m.sent.Load()-m.confirmed.Load() >= uint64(h.opts.sendQueue) {
		h.drop(m, "too slow")
		return
	}
	if err := m.conn.WritePrepared(ctx, pm); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			h.drop(m, "too slow") // a goroutine-served connection whose socket is full
		} else {
			// The connection is closed (ErrWriteQueueFull closes it too):
			// OnClose follows.
			m.gone.Store(true)
		}
		return
	}
	n := m.sent.Add(1)
	if n-m.confirmed.Load() >= uint64(h.opts.probeEvery) && m.probing.CompareAndSwap(false, true) {
		go h.probe(m)
	}
}

// probe pings m until a pong has confirmed all but fewer than probeEvery
// of the messages written to it, and drops m if a pong is late.
func (h *hub) probe(m *member) {
	defer m.probing.Store(false)
	for !m.gone.Load() {
		upto := m.sent.Load()
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.maxLag)
		_, err := m.conn.Ping(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				h.drop(m, "too slow")
			}
			return
		}
		m.confirmed.Store(upto)
		if m.sent.Load()-upto < uint64(h.opts.probeEvery) {
			return
		}
	}
}

// drop takes m out of its room and closes its connection with 1008.
// Close waits for the client's answer, so it runs on a goroutine of its
// own: the fan-out goes on.
func (h *hub) drop(m *member, reason string) {
	if !m.gone.CompareAndSwap(false, true) {
		return
	}
	h.log.Printf("%s (%s in %s): dropped: %s: %d messages sent, %d confirmed", m.ID, m.Name, m.Room, reason, m.sent.Load(), m.confirmed.Load())
	h.leave(m, reason)
	go m.conn.Close(websocket.StatusPolicyViolation, reason)
}

// heartbeatLoop announces this server's members until ctx ends.
func (h *hub) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(h.opts.heartbeat)
	defer t.Stop()
	for {
		h.publishHeartbeat(false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publishHeartbeat publishes the local members. It holds mu, so that the
// heartbeat is ordered on the bus with the join and leave events.
func (h *hub) publishHeartbeat(bye bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hb := heartbeat{Node: h.opts.node, Members: []memberInfo{}, Bye: bye}
	for _, members := range h.rooms {
		for _, m := range members {
			hb.Members = append(hb.Members, m.memberInfo)
		}
	}
	h.bus.publish("node."+h.opts.node, marshal(hb))
}

// shutdown closes every connection with 1001 (going away), waits until
// each member has left, calls stopHeartbeats and tells the other servers
// this one is gone.
func (h *hub) shutdown(ctx context.Context, stopHeartbeats func()) error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	err := h.group.Shutdown(ctx, "server shutting down")
	left := make(chan struct{})
	go func() {
		h.members.Wait()
		close(left)
	}()
	select {
	case <-left:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("members still leaving: %w", ctx.Err()))
	}
	stopHeartbeats()
	h.publishHeartbeat(true)
	return err
}

// health is what /healthz reports.
type health struct {
	Node    string   `json:"node"`
	Members int      `json:"members"`
	Nodes   []string `json:"nodes"`  // the servers this one hears from, itself included
	Routes  int      `json:"routes"` // route connections of the embedded NATS server
}

func (h *hub) serveHealth(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	st := health{Node: h.opts.node, Members: h.poller.Len(), Nodes: h.view.liveNodes(), Routes: h.bus.routes()}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(marshal(st))
}
