package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// TestClusterChromium runs the examples/cluster chat across two server
// processes, n1 and n2, clustered through their embedded NATS servers
// (each routes to the other). Headless Chromium opens the chat page served
// by n1 and joins a room through the page's form; our client connects to
// n2 and joins the same room. What either says crosses from one process to
// the other over the NATS routes:
//
//   - the page shows our client's join, its numbered messages in the order
//     sent, as the page renders them ("gopher: hello from n2 #1"), and its
//     departure; the members list shows it on n2 while it is there;
//   - our client gets its own messages back from n2, and the message typed
//     into the page, sent by n1.
//
// The exchange is bounded at 60 seconds once the binary is built; both
// servers are stopped (SIGTERM, then SIGKILL) when the test ends.
//
//	cd interop && go test -count=1 -run TestClusterChromium -v .
func TestClusterChromium(t *testing.T) {
	r := newRow(t, "Chromium", "examples/cluster chat page on server n1 ↔ our client on server n2 (two processes clustered over NATS routes; DOM)", "off")
	bin := buildCluster(t)
	b, err := startBrowserDriver(t, "chromium-cluster", "cluster_page.mjs")
	if err != nil {
		t.Fatal(err)
	}
	r.setVersion(strings.TrimPrefix(b.version, "Chromium "))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	servers := startClusterPair(ctx, t, bin)
	n1, n2 := servers[0], servers[1]

	// The page joins on n1.
	const room = "interop"
	id := b.job(t, map[string]any{"job": "join", "url": n1 + "/", "name": "chromium", "room": room})
	var joined struct {
		Status string `json:"status"`
	}
	if !b.result(t, id, 20*time.Second, &joined) {
		return
	}
	if want := "in " + room + " as chromium, on server n1"; joined.Status != want {
		t.Fatalf("#status after joining: %q, want %q", joined.Status, want)
	}

	// Our client joins on n2.
	wsURL := strings.Replace(n2, "http://", "ws://", 1) + "/ws?" + url.Values{"room": {room}, "name": {"gopher"}}.Encode()
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	welcome := readClusterEvent(ctx, t, c, "our client's welcome", func(ev clusterEvent) bool { return ev.Type == "welcome" })
	if welcome.Node != "n2" || welcome.Room != room {
		t.Fatalf("welcome from %q in room %q, want n2 and %q", welcome.Node, welcome.Room, room)
	}
	t.Logf("our client is %s on %s; n2's roster at its welcome: %+v", welcome.ID, welcome.Node, welcome.Members)

	// n1 heard of it: the page shows the join and the member.
	pageWait := func(selector, text string) bool {
		t.Helper()
		id := b.job(t, map[string]any{"job": "wait", "selector": selector, "text": text, "timeout": 15000})
		if b.result(t, id, 20*time.Second, nil) {
			return true
		}
		t.Errorf("the page never showed %q in %s", text, selector)
		id = b.job(t, map[string]any{"job": "snapshot"})
		var snap clusterPageSnapshot
		if b.result(t, id, 10*time.Second, &snap) {
			t.Logf("the page shows: %+v", snap)
		}
		return false
	}
	if !pageWait("#log > div.notice", "* gopher joined (server n2)") || !pageWait("#members > li", "gopher @n2") {
		return
	}

	// Three numbered messages from n2 to the page on n1.
	const count = 3
	var want []string
	for seq := 1; seq <= count; seq++ {
		text := fmt.Sprintf("hello from n2 #%d", seq)
		want = append(want, "gopher: "+text)
		msg, _ := json.Marshal(map[string]any{"text": text, "seq": seq})
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
	}
	// The sender is in the room too: n2 hands each back to it, in order.
	for seq := 1; seq <= count; seq++ {
		ev := readClusterEvent(ctx, t, c, fmt.Sprintf("our message %d back", seq), func(ev clusterEvent) bool {
			return ev.Type == "msg" && ev.ID == welcome.ID
		})
		if ev.Seq != uint64(seq) || ev.Text != fmt.Sprintf("hello from n2 #%d", seq) || ev.Node != "n2" {
			t.Errorf("our message %d came back as %+v", seq, ev)
		}
	}
	if !pageWait("#log > div", want[count-1]) {
		return
	}

	// The page answers; our client on n2 gets it from n1.
	const reply = "hello from n1 ✓"
	id = b.job(t, map[string]any{"job": "say", "text": reply})
	if !b.result(t, id, 10*time.Second, nil) {
		return
	}
	ev := readClusterEvent(ctx, t, c, "the page's message", func(ev clusterEvent) bool {
		return ev.Type == "msg" && ev.Name == "chromium"
	})
	if ev.Text != reply || ev.Node != "n1" || ev.Room != room {
		t.Errorf("the page's message reached our client as %+v, want %q from n1 in %s", ev, reply, room)
	}

	// What the page shows, with our client still there.
	screenshot := filepath.Join(artifactDir(t), "cluster-page.png")
	os.Remove(screenshot)
	id = b.job(t, map[string]any{"job": "snapshot", "screenshot": screenshot})
	var snap clusterPageSnapshot
	if !b.result(t, id, 10*time.Second, &snap) {
		return
	}
	var got []string
	for _, line := range snap.Log {
		if line.Who == "gopher" {
			got = append(got, line.Text)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the page shows our client's messages as %q, want %q", got, want)
	}
	if !slices.Contains(snap.Members, "gopher @n2") || !slices.Contains(snap.Members, "chromium @n1") {
		t.Errorf("the page's members list: %q, want gopher @n2 and chromium @n1", snap.Members)
	}
	if !slices.ContainsFunc(snap.Log, func(l clusterLogLine) bool { return l.Who == "chromium" && l.Text == "chromium: "+reply }) {
		t.Errorf("the page does not show its own message back from n1: %+v", snap.Log)
	}
	t.Logf("page: status %q; members %q; log:", snap.Status, snap.Members)
	for _, line := range snap.Log {
		t.Logf("  %s", line.Text)
	}
	if png, err := os.ReadFile(screenshot); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("no screenshot at %s (%v)", screenshot, err)
	}

	// Our client leaves; n1 tells the page.
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("closing our client: %v", err)
	}
	if !pageWait("#log > div.notice", "* gopher left (closed)") {
		return
	}
	if t.Failed() {
		return
	}
	r.addNote(fmt.Sprintf("the page on n1 showed our client's join, its %d numbered messages in order and its departure; our client on n2 got its messages back and the page's", count))
}

const clusterBuildTimeout = 5 * time.Minute

// buildCluster builds examples/cluster, a module of its own, into a
// temporary directory.
func buildCluster(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cluster")
	ctx, cancel := context.WithTimeout(context.Background(), clusterBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(*rootDir, "examples", "cluster")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/cluster: %v\n%s", err, out)
	}
	t.Logf("built examples/cluster in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// startClusterPair starts two cluster servers, n1 and n2, whose embedded
// NATS servers route to each other, and waits until each hears the
// other's heartbeat. It returns their http:// base URLs.
func startClusterPair(ctx context.Context, t *testing.T, bin string) [2]string {
	t.Helper()
	nodes := [2]string{"n1", "n2"}
	routePorts := [2]int{freePort(t), freePort(t)}
	var base [2]string
	for i, node := range nodes {
		proc := startPeer(t, procSpec{
			name: "cluster " + node,
			dir:  ".",
			argv: []string{bin,
				"-node", node,
				"-addr", "127.0.0.1:0",
				"-cluster", fmt.Sprintf("127.0.0.1:%d", routePorts[i]),
				"-routes", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[1-i]),
			},
			stopSignal: syscall.SIGTERM,
		})
		ev, _, err := proc.waitEvent(ctx, 0, "its listening line", func(ev peerEvent) bool {
			return ev.Event == "output" && strings.HasPrefix(ev.Msg, "listening on ")
		})
		if err != nil {
			t.Fatal(err)
		}
		base[i] = strings.TrimPrefix(ev.Msg, "listening on ")
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	for i, u := range base {
		var last string
		for {
			var h struct {
				Nodes  []string `json:"nodes"`
				Routes int      `json:"routes"`
			}
			resp, err := hc.Get(u + "/healthz")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
			}
			if err == nil && slices.Equal(h.Nodes, nodes[:]) && h.Routes > 0 {
				break
			}
			last = fmt.Sprintf("%+v (%v)", h, err)
			select {
			case <-ctx.Done():
				t.Fatalf("%s never heard from both servers: /healthz said %s", nodes[i], last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return base
}

// clusterEvent is what a cluster server sends its members (see
// examples/cluster/protocol.go).
type clusterEvent struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Node    string `json:"node"`
	Seq     uint64 `json:"seq"`
	Text    string `json:"text"`
	Reason  string `json:"reason"`
	Members []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Node string `json:"node"`
	} `json:"members"`
}

// readClusterEvent reads events from c until one matches, skipping the
// others (presence events of other members).
func readClusterEvent(ctx context.Context, t *testing.T, c *websocket.Conn, what string, match func(clusterEvent) bool) clusterEvent {
	t.Helper()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("our client, waiting for %s: %v", what, err)
		}
		var ev clusterEvent
		if typ != websocket.MessageText || json.Unmarshal(p, &ev) != nil {
			t.Fatalf("our client, waiting for %s, got a %v message %q", what, typ, p)
		}
		if match(ev) {
			return ev
		}
	}
}

// clusterPageSnapshot is what peers/cluster_page.mjs reports of the page.
type clusterPageSnapshot struct {
	Status  string           `json:"status"`
	Log     []clusterLogLine `json:"log"`
	Members []string         `json:"members"`
}

// clusterLogLine is one line of the page's #log: a message (who is its
// sender) or a notice (class "notice").
type clusterLogLine struct {
	Class string `json:"class"`
	Who   string `json:"who"`
	Text  string `json:"text"`
}
