// Package load is a chat member for load tests: it keeps itself connected
// through whatever balancer is in front of the servers, numbers what it
// sends, and checks what it receives, per sender, for gaps, duplicates
// and reordering. The load command and the cluster test drive it.
package load

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fullduplex/websocket"
)

// Interval is a span of time a client was not in its room: from when it
// saw its connection end to when the next one's welcome arrived.
type Interval struct {
	From, To time.Time
}

// Contains reports whether t falls in the interval widened by margin on
// each side. An interval still open (To zero) extends to now.
func (iv Interval) Contains(t time.Time, margin time.Duration) bool {
	to := iv.To
	if to.IsZero() {
		to = time.Now()
	}
	return !t.Before(iv.From.Add(-margin)) && !t.After(to.Add(margin))
}

// Gap is a run of sequence numbers a client never received from a
// sender, both ends included, with the client's connections (counted from
// 1) on which the messages around it arrived: Before is that of the
// message before the gap, After that of the message after it, 0 if none
// came yet.
type Gap struct {
	From, To      uint64
	Before, After int
}

// PeerLog is what a client received from one sender.
type PeerLog struct {
	Last       uint64 // highest sequence number received
	LastConn   int    // the client's connection it arrived on
	Received   uint64 // messages received
	Gaps       []Gap  // numbers skipped between two received ones
	OutOfOrder uint64 // messages at or below Last: duplicates or reordered
	// LastBy is the highest number received per member id the sender
	// had: per connection of the sender.
	LastBy map[string]uint64
}

// Client is one chat member. Set the exported fields, then call Run.
type Client struct {
	URL  string // the endpoint, such as ws://127.0.0.1:8080/ws
	Room string
	Name string // unique among the clients: messages are told apart by it
	Dial *websocket.DialOptions

	// MinBackoff is the first wait before a reconnect, doubled up to 16
	// times as much on repeated failures, with jitter. Zero means 100ms.
	MinBackoff time.Duration

	mu        sync.Mutex
	conn      *websocket.Conn // nil while disconnected
	id, node  string          // the current connection's member id and server
	ids       []string        // every member id this client has had
	connects  int             // connections that got a welcome; the current one's number
	welcomes  []time.Time     // when each got it
	downs     []Interval
	codes     []websocket.StatusCode // how each connection ended
	seq       uint64                 // last number sent
	sentAt    []int64                // send time (Unix ns) by number - 1
	sentOn    []int                  // the connection each was sent on, by number - 1
	peers     map[string]*PeerLog
	received  uint64            // numbered messages received, from anyone
	view      map[string]string // member id → name, as welcome, join and leave tell
	latencies []time.Duration
	errs      []error
	welcomed  chan struct{} // closed at the first welcome
}

// frame is any message from the server.
type frame struct {
	Type    string  `json:"type"`
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Node    string  `json:"node"`
	Seq     *uint64 `json:"seq"`
	Text    string  `json:"text"`
	Reason  string  `json:"reason"`
	Members []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"members"`
}

func (c *Client) init() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers == nil {
		c.peers = make(map[string]*PeerLog)
		c.welcomed = make(chan struct{})
	}
}

// Welcomed is closed once the client is first in its room.
func (c *Client) Welcomed() <-chan struct{} {
	c.init()
	return c.welcomed
}

// Run keeps the client connected until ctx ends, then closes its
// connection with 1000.
func (c *Client) Run(ctx context.Context) {
	c.init()
	backoff := c.MinBackoff
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	failures := 0
	for ctx.Err() == nil {
		if c.session(ctx) {
			failures = 0
		} else {
			failures++
		}
		wait := backoff << min(failures, 4)
		wait = wait/2 + rand.N(wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// session connects once and reads until the connection ends. It reports
// whether the client got into its room.
func (c *Client) session(ctx context.Context) bool {
	u := c.URL + "?" + url.Values{"room": {c.Room}, "name": {c.Name}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, _, err := websocket.Dial(dctx, u, c.Dial)
	cancel()
	if err != nil {
		c.fail(fmt.Errorf("dial: %w", err))
		return false
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(websocket.StatusNormalClosure, "done") })
	defer stop()
	in := false
	for {
		_, msg, err := conn.Read(context.Background())
		if err != nil {
			c.ended(conn, in, ctx.Err() != nil, err)
			return in
		}
		var f frame
		if err := json.Unmarshal(msg, &f); err != nil {
			c.fail(fmt.Errorf("bad message %q: %w", msg, err))
			conn.CloseNow()
			continue
		}
		if !in {
			if f.Type != "welcome" {
				c.fail(fmt.Errorf("first message is %q, not welcome", f.Type))
				conn.CloseNow()
				continue
			}
			in = true
		}
		c.handle(conn, &f)
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 20 {
		c.errs = append(c.errs, err)
	}
}

// ended records the end of a connection; stopping says the client
// closed it because Run is ending.
func (c *Client) ended(conn *websocket.Conn, in, stopping bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !in {
		return
	}
	c.codes = append(c.codes, websocket.CloseStatus(err))
	if c.conn == conn {
		c.conn = nil
		if !stopping {
			c.downs = append(c.downs, Interval{From: time.Now()})
		}
	}
}

func (c *Client) handle(conn *websocket.Conn, f *frame) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch f.Type {
	case "welcome":
		c.conn, c.id, c.node = conn, f.ID, f.Node
		c.ids = append(c.ids, f.ID)
		c.welcomes = append(c.welcomes, now)
		c.connects++
		if n := len(c.downs); n > 0 && c.downs[n-1].To.IsZero() {
			c.downs[n-1].To = now
		}
		c.view = make(map[string]string, len(f.Members))
		for _, m := range f.Members {
			c.view[m.ID] = m.Name
		}
		if c.connects == 1 {
			close(c.welcomed)
		}
	case "join":
		c.view[f.ID] = f.Name
	case "leave":
		delete(c.view, f.ID)
	case "msg":
		if f.Seq == nil {
			return // not from a load client
		}
		p := c.peers[f.Name]
		if p == nil {
			// Every client joins before anybody talks: the first
			// connection is where number 1 was due.
			p = &PeerLog{LastConn: 1, LastBy: make(map[string]uint64)}
			c.peers[f.Name] = p
		}
		seq := *f.Seq
		c.received++
		p.Received++
		p.LastBy[f.ID] = max(p.LastBy[f.ID], seq)
		switch {
		case seq <= p.Last:
			p.OutOfOrder++
		case seq > p.Last+1:
			p.Gaps = append(p.Gaps, Gap{From: p.Last + 1, To: seq - 1, Before: p.LastConn, After: c.connects})
			fallthrough
		default:
			p.Last, p.LastConn = seq, c.connects
		}
		if sent, err := strconv.ParseInt(f.Text, 10, 64); err == nil {
			c.latencies = append(c.latencies, now.Sub(time.Unix(0, sent)))
		}
	}
}

// Send sends the next numbered message, carrying its send time. It
// reports false, numbering nothing, while the client is not in its room
// or when the write fails. Send must not be called concurrently.
func (c *Client) Send(ctx context.Context) bool {
	c.mu.Lock()
	conn := c.conn
	if conn == nil {
		c.mu.Unlock()
		return false
	}
	c.seq++
	seq := c.seq
	now := time.Now().UnixNano()
	c.sentAt = append(c.sentAt, now)
	c.sentOn = append(c.sentOn, c.connects)
	c.mu.Unlock()
	msg, _ := json.Marshal(struct {
		Text string `json:"text"`
		Seq  uint64 `json:"seq"`
	}{strconv.FormatInt(now, 10), seq})
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		// The connection is ending (the reader sees it too) and the
		// message did not go out whole: it was not sent, and its number
		// goes to the next one. Only this goroutine numbers messages.
		c.mu.Lock()
		c.seq--
		c.sentAt = c.sentAt[:len(c.sentAt)-1]
		c.sentOn = c.sentOn[:len(c.sentOn)-1]
		c.mu.Unlock()
		return false
	}
	return true
}

// Snapshot is a copy of a client's state.
type Snapshot struct {
	Name, Room string
	Connected  bool
	ID, Node   string      // the current connection's, if connected
	IDs        []string    // every member id the client has had, by connection - 1
	Connects   int         // connections that got a welcome
	Welcomes   []time.Time // when, by connection - 1
	Downs      []Interval
	Codes      []websocket.StatusCode
	Sent       uint64
	SentAt     []int64 // Unix ns, by sequence number - 1
	SentOn     []int   // the connection, by sequence number - 1
	Peers      map[string]PeerLog
	View       []string // member ids in the room, as the client was told
	Errors     []error
}

// Snapshot returns a copy of the client's state.
func (c *Client) Snapshot() Snapshot {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{
		Name: c.Name, Room: c.Room,
		Connected: c.conn != nil, ID: c.id, Node: c.node,
		IDs: slices.Clone(c.ids), Connects: c.connects, Welcomes: slices.Clone(c.welcomes),
		Downs: slices.Clone(c.downs), Codes: slices.Clone(c.codes),
		Sent: c.seq, SentAt: slices.Clone(c.sentAt), SentOn: slices.Clone(c.sentOn),
		Peers:  make(map[string]PeerLog, len(c.peers)),
		Errors: slices.Clone(c.errs),
	}
	if c.conn == nil {
		s.ID, s.Node = "", ""
	}
	for name, p := range c.peers {
		cp := *p
		cp.Gaps = slices.Clone(p.Gaps)
		cp.LastBy = maps.Clone(p.LastBy)
		s.Peers[name] = cp
	}
	for id := range c.view {
		s.View = append(s.View, id)
	}
	slices.Sort(s.View)
	return s
}

// Where returns the client's current member id and server, or empty
// strings while it is not in its room.
func (c *Client) Where() (id, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return "", ""
	}
	return c.id, c.node
}

// View returns the member ids in the client's room, as the server told
// it, ordered.
func (c *Client) View() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	view := make([]string, 0, len(c.view))
	for id := range c.view {
		view = append(view, id)
	}
	slices.Sort(view)
	return view
}

// Sent returns the number of the last message sent.
func (c *Client) Sent() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Last returns the highest number received from sender.
func (c *Client) Last(sender string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[sender]; p != nil {
		return p.Last
	}
	return 0
}

// Received returns how many numbered messages the client has received,
// from all senders, on all its connections.
func (c *Client) Received() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}

// TakeLatencies returns the fan-out latencies measured since the last
// call (send to receipt, for messages sent by clients of this process),
// and forgets them.
func (c *Client) TakeLatencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.latencies
	c.latencies = nil
	return l
}

// NoProxy makes Dial connect directly, whatever the environment says.
func NoProxy(*http.Request) (*url.URL, error) { return nil, nil }
