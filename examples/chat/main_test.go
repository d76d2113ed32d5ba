package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/internal/testutil"
)

// smallSendBuffers shrinks the kernel's send buffer of every accepted
// connection, so that a client that stops reading fills it, and then its
// queue, after a few hundred messages rather than many thousands.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// startHub serves a hub on 127.0.0.1 and returns the URL of its endpoint.
// The hub is shut down at the end of the test, after the test's clients
// have closed.
func startHub(t *testing.T) string {
	t.Helper()
	h := newHub(log.New(t.Output(), "hub: ", 0))
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = smallSendBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.shutdown(context.Background())
			ts.Close()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the hub did not shut down")
		}
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// member is a client in the room.
type member struct {
	t    *testing.T
	name string
	conn *websocket.Conn
	msgs chan string   // messages received, in order, if something reads
	end  chan error    // why reading stopped
	done chan struct{} // closed when the reading goroutine returns
}

// enter connects a member named name. Unless quiet, a goroutine reads its
// messages into msgs; a quiet member reads nothing until told to.
func enter(ctx context.Context, t *testing.T, url, name string, quiet bool) *member {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url+"?name="+neturl.QueryEscape(name), nil)
	if err != nil {
		t.Fatalf("%s: Dial: %v", name, err)
	}
	m := &member{
		t:    t,
		name: name,
		conn: c,
		msgs: make(chan string, 1024),
		end:  make(chan error, 1),
		done: make(chan struct{}),
	}
	if quiet {
		close(m.done)
	} else {
		go m.readAll(ctx)
	}
	t.Cleanup(func() {
		c.Close(websocket.StatusNormalClosure, "")
		<-m.done
	})
	return m
}

// readAll reads messages into msgs until the connection ends.
func (m *member) readAll(ctx context.Context) {
	defer close(m.done)
	for {
		_, msg, err := m.conn.Read(ctx)
		if err != nil {
			m.end <- err
			return
		}
		m.msgs <- string(msg)
	}
}

// next returns the next message m received.
func (m *member) next(ctx context.Context) string {
	m.t.Helper()
	select {
	case msg := <-m.msgs:
		return msg
	case err := <-m.end:
		m.t.Fatalf("%s: connection ended: %v", m.name, err)
	case <-ctx.Done():
		m.t.Fatalf("%s: no message: %v", m.name, ctx.Err())
	}
	return ""
}

// await skips m's messages up to and including want.
func (m *member) await(ctx context.Context, want string) {
	m.t.Helper()
	for m.next(ctx) != want {
	}
}

func (m *member) say(ctx context.Context, text string) {
	m.t.Helper()
	if err := m.conn.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		m.t.Fatalf("%s: Write: %v", m.name, err)
	}
}

func TestSlowClientDropped(t *testing.T) {
	testutil.CheckLeaks(t)
	url := startHub(t)
	ctx := testCtx(t)

	// Each joins once the previous one is in the room, so that all of them
	// hear of the next.
	alice := enter(ctx, t, url, "alice", false)
	alice.await(ctx, "* alice joined")
	bob := enter(ctx, t, url, "bob", false)
	bob.await(ctx, "* bob joined")
	slow := enter(ctx, t, url, "slow", true)
	for _, m := range []*member{alice, bob} {
		m.await(ctx, "* slow joined")
	}
	seen := []string{"* slow joined"} // everything alice hears from here on

	// Alice talks; she and bob must hear every message, in order. The next
	// message waits until both heard the last one, so that neither of them
	// ever falls behind: only slow, who reads nothing, can be dropped.
	const dropNotice = "* slow was dropped: " + dropReason
	const maxMessages = 5000 // far more than the socket buffers hold
	padding := strings.Repeat(".", 1000)
	droppedAt := -1
	for i := 0; droppedAt < 0 || i < droppedAt+3; i++ {
		if i == maxMessages {
			t.Fatalf("slow was not dropped after %d messages", i)
		}
		text := fmt.Sprintf("message %d %s", i, padding)
		alice.say(ctx, text)
		want := "alice: " + text
		for _, m := range []*member{alice, bob} {
			got := m.next(ctx)
			if got == dropNotice {
				// The notice follows the message slow did not take in time.
				if m == alice {
					droppedAt = i
					seen = append(seen, got)
				} else if droppedAt != i {
					t.Fatalf("bob heard the drop before message %d, alice before message %d", i, droppedAt)
				}
				got = m.next(ctx)
			}
			if got != want {
				t.Fatalf("%s heard %.40q…, want %.40q…", m.name, got, want)
			}
		}
		seen = append(seen, want)
	}

	// Now slow reads: what it got is the start of the conversation, in
	// order, and then the close frame with the code for being too slow.
	var got []string
	var err error
	for {
		var msg []byte
		if _, msg, err = slow.conn.Read(ctx); err != nil {
			break
		}
		got = append(got, string(msg))
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
		t.Errorf("slow's connection ended with %v, want close code 1008", err)
	}
	if len(got) == 0 || len(got) > len(seen) || !slices.Equal(got, seen[:len(got)]) {
		t.Errorf("slow heard %d messages that are not the first of the %d alice heard", len(got), len(seen))
	}
	if slices.Contains(got, dropNotice) {
		t.Error("slow heard of its own drop")
	}
	t.Logf("slow was dropped at message %d, having received %d messages", droppedAt, len(got))
}

func TestRoom(t *testing.T) {
	testutil.CheckLeaks(t)
	url := startHub(t)
	ctx := testCtx(t)

	alice := enter(ctx, t, url, "alice", false)
	alice.await(ctx, "* alice joined")
	bob := enter(ctx, t, url, "bob", false)
	alice.await(ctx, "* bob joined")
	bob.await(ctx, "* bob joined")

	bob.say(ctx, "hi, alice")
	for _, m := range []*member{alice, bob} {
		if got := m.next(ctx); got != "bob: hi, alice" {
			t.Errorf("%s heard %q", m.name, got)
		}
	}

	if err := bob.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := alice.next(ctx); got != "* bob left" {
		t.Errorf("alice heard %q, want bob's departure", got)
	}
}

func TestRules(t *testing.T) {
	testutil.CheckLeaks(t)
	url := startHub(t)
	ctx := testCtx(t)
	tests := []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
		code websocket.StatusCode
	}{
		{
			name: "binary message",
			typ:  websocket.MessageBinary,
			msg:  []byte{1, 2, 3},
			code: websocket.StatusUnsupportedData,
		},
		{
			name: "message too big",
			typ:  websocket.MessageText,
			msg:  []byte(strings.Repeat("x", maxMessageSize+1)),
			code: websocket.StatusMessageTooBig,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A name of its own: the room may still be told that the
			// rule breaker of the case before left.
			name := fmt.Sprintf("rulebreaker%d", i)
			m := enter(ctx, t, url, name, false)
			m.await(ctx, "* "+name+" joined")
			if err := m.conn.Write(ctx, tc.typ, tc.msg); err != nil {
				t.Fatalf("Write: %v", err)
			}
			for {
				select {
				case err := <-m.end:
					if websocket.CloseStatus(err) != tc.code {
						t.Errorf("connection ended with %v, want close code %v", err, tc.code)
					}
					return
				case msg := <-m.msgs:
					if strings.HasPrefix(msg, "* ") && !strings.HasPrefix(msg, "* "+name+" ") {
						continue // news of another member
					}
					t.Fatalf("heard %q", msg)
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
			}
		})
	}
}

// TestNames: a name that could pass for the server's notices, or for the
// "NAME: " in front of another client's message, or that carries control
// or format characters, is refused before the handshake; the white space
// around a name is trimmed.
func TestNames(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := testCtx(t)
	tests := []struct {
		name  string
		query string // the raw query, for what QueryEscape cannot make
		raw   string // the name to ask for, escaped, when query is empty
		want  string // the name announced; empty when the name is refused
	}{
		{
			name:  "missing",
			query: "?",
		},
		{
			name: "empty",
			raw:  "",
		},
		{
			name: "white space only",
			raw:  " \t ",
		},
		{
			name: "too long",
			raw:  strings.Repeat("n", maxNameLen+1),
		},
		{
			name:  "not UTF-8",
			query: "?name=%ff",
		},
		{
			name: "notice marker",
			raw:  "* alice joined",
		},
		{
			name: "notice marker alone",
			raw:  "*alice",
		},
		{
			name: "look-alike of the marker",
			raw:  "\u2217alice", // ∗, ASTERISK OPERATOR
		},
		{
			name: "combining mark first",
			raw:  "\u0301alice",
		},
		{
			name: "white space inside",
			raw:  "alice joined",
		},
		{
			name: "line break",
			raw:  "eve\n*alice",
		},
		{
			name: "Unicode line separator",
			raw:  "eve\u2028*alice",
		},
		{
			name: "escape sequence",
			raw:  "eve\x1b[2J",
		},
		{
			name: "bidirectional override",
			raw:  "eve\u202eecila",
		},
		{
			name: "zero-width space",
			raw:  "al\u200bice",
		},
		{
			name: "colon",
			raw:  "bob:hi",
		},
		{
			name: "plain",
			raw:  "alice",
			want: "alice",
		},
		{
			name: "trimmed",
			raw:  "  alice\t",
			want: "alice",
		},
		{
			name: "digit first, punctuation and symbols",
			raw:  "2b_or-not.2b*",
			want: "2b_or-not.2b*",
		},
		{
			name: "non-ASCII",
			raw:  "Zoë",
			want: "Zoë",
		},
		{
			name: "right to left",
			raw:  "שרה",
			want: "שרה",
		},
		{
			name: "longest, in characters not bytes",
			raw:  strings.Repeat("é", maxNameLen),
			want: strings.Repeat("é", maxNameLen),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := startHub(t) // a room of its own, where the first news is the join
			if tc.want != "" {
				m := enter(ctx, t, url, tc.raw, false)
				if got, want := m.next(ctx), noticePrefix+tc.want+" joined"; got != want {
					t.Errorf("heard %q, want %q", got, want)
				}
				return
			}
			query := tc.query
			if query == "" {
				query = "?name=" + neturl.QueryEscape(tc.raw)
			}
			c, resp, err := websocket.Dial(ctx, url+query, nil)
			if err == nil {
				c.CloseNow()
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Dial: %v, want a 400 answer", err)
			}
		})
	}
}

// TestText: a message reaches the room as one line, with no control
// character, so that it cannot start a line that passes for a notice or
// for another client's message, nor drive a terminal.
func TestText(t *testing.T) {
	testutil.CheckLeaks(t)
	url := startHub(t)
	ctx := testCtx(t)
	alice := enter(ctx, t, url, "alice", false)
	alice.await(ctx, "* alice joined")
	tests := []struct {
		name string
		text string
		want string
	}{
		{
			name: "line break",
			text: "hi\n* bob left",
			want: "hi * bob left",
		},
		{
			name: "CRLF",
			text: "hi\r\nbob: bye",
			want: "hi  bob: bye",
		},
		{
			name: "Unicode line breaks",
			text: "a\u2028b\u2029c\u0085d\ve\ff",
			want: "a b c d e f",
		},
		{
			name: "tab",
			text: "a\tb",
			want: "a b",
		},
		{
			name: "escape sequence",
			text: "\x1b[2Jgone",
			want: "\ufffd[2Jgone",
		},
		{
			name: "C1 control sequence",
			text: "\u009b31mred",
			want: "\ufffd31mred",
		},
		{
			name: "NUL, backspace and DEL",
			text: "a\x00b\bc\x7f",
			want: "a\ufffdb\ufffdc\ufffd",
		},
		{
			name: "ordinary text",
			text: "* not a notice: héllo ✓ שלום \u00a0\u3000",
			want: "* not a notice: héllo ✓ שלום \u00a0\u3000",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alice.say(ctx, tc.text)
			if got, want := alice.next(ctx), "alice: "+tc.want; got != want {
				t.Errorf("heard %q, want %q", got, want)
			}
		})
	}
}

// FuzzLine checks what the room hears from a client: its name, as
// checkName lets it through, cannot make the line start with the notice
// marker nor hold a second ":" before the message, and the message, as
// oneLine leaves it, holds no control character or line break.
func FuzzLine(f *testing.F) {
	for _, seed := range [][2]string{
		{"alice", "hi"},
		{" alice ", "hi\n* bob left"},
		{"* alice", "\x1b[2J"},
		{"bob:", "a\u2028b"},
		{"Zoë", "\u009b31m"},
		{"\u202eeve", "\r\n"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, raw, text string) {
		msg := oneLine([]byte(text))
		if utf8.ValidString(text) && utf8.RuneCountInString(msg) != utf8.RuneCountInString(text) {
			t.Errorf("oneLine(%q) = %q, not one character for one", text, msg)
		}
		for _, r := range msg {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Errorf("oneLine(%q) = %q, which holds %U", text, msg, r)
			}
		}
		name, err := checkName(raw)
		if err != nil {
			return
		}
		line := name + ": " + msg
		switch {
		case strings.HasPrefix(line, "*"):
			t.Errorf("name %q makes the line %q, which starts like a notice", raw, line)
		case strings.IndexByte(line, ':') != len(name):
			t.Errorf("name %q makes the line %q, in which the name does not end at the first colon", raw, line)
		case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
			t.Errorf("name %q kept as %q, with white space or a control or format character", raw, name)
		case utf8.RuneCountInString(name) > maxNameLen:
			t.Errorf("name %q kept as %q, longer than %d characters", raw, name, maxNameLen)
		}
		if again, err := checkName(name); again != name || err != nil {
			t.Errorf("checkName(%q) = %q, %v; checked again: %q, %v", raw, name, nil, again, err)
		}
	})
}

func TestRun(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := testCtx(t)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stdout := testutil.NewLines()
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"-addr", "127.0.0.1:0"}, stdout, io.Discard) }()

	line, ok := stdout.Line(ctx, 0)
	addr := regexp.MustCompile(`^listening on http://(127\.0\.0\.1:\d+)$`).FindStringSubmatch(line)
	if !ok || addr == nil {
		t.Fatalf("first line %q does not give the address", line)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "1008") {
		t.Errorf("GET / answered %s; the page should explain the drop policy", resp.Status)
	}

	// A connection on which no request comes, as browsers open ahead of
	// need, must not hold up the exit.
	unused, err := net.Dial("tcp", addr[1])
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	m := enter(ctx, t, "ws://"+addr[1]+"/ws", "alice", false)
	m.await(ctx, "* alice joined")
	stop()
	select {
	case err := <-m.end:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("at shutdown the connection ended with %v, want close code 1001", err)
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("run did not return")
	}
}
