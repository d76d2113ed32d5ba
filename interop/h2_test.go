package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	// Go 1.25 and 1.26 offer extended CONNECT (RFC 8441) in their HTTP/2
	// servers only with GODEBUG=http2xconnect=1, read once as net/http is
	// initialised. As the README tells users, this import sets it before
	// then; a //go:debug line cannot (the go command rejects the unknown
	// setting). It is process-wide, so every HTTP/2 server of the tests
	// offers it; the servers of the other tests do not speak HTTP/2.
	// Child processes inherit the variable.
	_ "github.com/fullduplex/websocket/xconnect"
)

// wsRecord is what our server saw of one WebSocket: how its handshake came
// (HTTP/2 extended CONNECT or HTTP/1.1 Upgrade, on which TCP connection)
// and how it ended. The HTTP/2 tests check these on the server's side.
type wsRecord struct {
	Name         string       `json:"name"`                // the "socket" query parameter of the URL, or "page"
	Conn         int          `json:"conn"`                // the TCP connection, numbered from 1 in order of acceptance
	Proto        string       `json:"proto"`               // r.Proto
	ProtoMajor   int          `json:"protoMajor"`          // r.ProtoMajor
	Method       string       `json:"method"`              // r.Method
	ALPN         string       `json:"alpn"`                // the protocol negotiated by TLS on the connection
	Offered      string       `json:"offered"`             // Sec-WebSocket-Extensions of the request
	Messages     int          `json:"messages"`            // messages echoed
	PeerClose    *closeRecord `json:"peerClose,omitempty"` // the close frame received, as Read returned it
	OurClose     *closeRecord `json:"ourClose,omitempty"`  // the close we started, when asked to
	Err          string       `json:"err,omitempty"`       // anything else that ended the connection
	TCPConns     int          `json:"tcpConns"`            // TCP connections the server had accepted when the WebSocket ended
	RequestConns int          `json:"requestConns"`        // how many of them had carried requests by then
	PageConn     int          `json:"pageConn"`            // the TCP connection of the last request for the page, or 0
}

type closeRecord struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Err    string `json:"err,omitempty"` // what our Close returned
}

func (r wsRecord) String() string {
	s := fmt.Sprintf("%s: %s %s on TCP connection %d", r.Name, r.Proto, r.Method, r.Conn)
	if r.ALPN != "" {
		s += fmt.Sprintf(" (ALPN %s)", r.ALPN)
	}
	if r.Messages > 0 {
		s += fmt.Sprintf(", %d messages echoed", r.Messages)
	}
	if r.PeerClose != nil {
		s += fmt.Sprintf(", close frame received %d %q", r.PeerClose.Code, r.PeerClose.Reason)
	}
	if r.OurClose != nil {
		s += fmt.Sprintf(", closed by us with %d %q", r.OurClose.Code, r.OurClose.Reason)
		if r.OurClose.Err != "" {
			s += " (Close: " + r.OurClose.Err + ")"
		}
	}
	if r.Err != "" {
		s += ", ended by " + r.Err
	}
	return s
}

// connCounter numbers the TCP connections a server accepts: set as the
// server's ConnContext, it counts them and tags each request's context
// with its connection's number; request notes which carry requests.
type connCounter struct {
	n    atomic.Int32
	mu   sync.Mutex
	used map[int]bool
}

// request notes that r's connection carried a request.
func (cc *connCounter) request(r *http.Request) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.used == nil {
		cc.used = map[int]bool{}
	}
	cc.used[connNumber(r)] = true
}

// withRequests returns how many connections carried requests.
func (cc *connCounter) withRequests() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.used)
}

type connKey struct{}

func (cc *connCounter) connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, int(cc.n.Add(1)))
}

func (cc *connCounter) accepted() int { return int(cc.n.Load()) }

// connNumber returns the number connCounter gave the request's connection.
func connNumber(r *http.Request) int {
	n, _ := r.Context().Value(connKey{}).(int)
	return n
}

// newWSRecord starts the record of the WebSocket that request r opens.
func newWSRecord(r *http.Request, name string) wsRecord {
	rec := wsRecord{
		Name:       name,
		Conn:       connNumber(r),
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		Method:     r.Method,
		Offered:    r.Header.Get("Sec-WebSocket-Extensions"),
	}
	if r.TLS != nil {
		rec.ALPN = r.TLS.NegotiatedProtocol
	}
	return rec
}

// eventLog collects the events of a server in the test process, for the
// same checks as those of a server in a child process (peerProc): both
// have waitEvent.
type eventLog struct {
	mu      sync.Mutex
	events  []peerEvent
	changed chan struct{} // closed and replaced when events changes
}

func newEventLog() *eventLog {
	return &eventLog{changed: make(chan struct{})}
}

// add records an event with data as its JSON data.
func (l *eventLog) add(event string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, peerEvent{Event: event, Data: raw})
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *eventLog) waitEvent(ctx context.Context, from int, what string, match func(peerEvent) bool) (peerEvent, int, error) {
	for {
		l.mu.Lock()
		events, changed := l.events, l.changed
		l.mu.Unlock()
		for i := from; i < len(events); i++ {
			if match(events[i]) {
				return events[i], i, nil
			}
		}
		from = len(events)
		select {
		case <-changed:
		case <-ctx.Done():
			return peerEvent{}, 0, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// eventSource is a server's events, in the test process or a child.
type eventSource interface {
	waitEvent(ctx context.Context, from int, what string, match func(peerEvent) bool) (peerEvent, int, error)
}

// waitRecords waits for n WebSocket records ("ws" events) and returns them
// in the order they ended.
func waitRecords(ctx context.Context, src eventSource, n int) ([]wsRecord, error) {
	var recs []wsRecord
	from := 0
	for len(recs) < n {
		ev, i, err := src.waitEvent(ctx, from, fmt.Sprintf("the end of WebSocket %d of %d on the server", len(recs)+1, n), func(ev peerEvent) bool { return ev.Event == "ws" })
		if err != nil {
			return recs, err
		}
		var rec wsRecord
		if err := json.Unmarshal(ev.Data, &rec); err != nil {
			return recs, fmt.Errorf("record %s: %v", ev.Data, err)
		}
		recs = append(recs, rec)
		from = i + 1
	}
	return recs, nil
}
