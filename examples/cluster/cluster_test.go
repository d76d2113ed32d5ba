package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/cluster/internal/load"
)

var (
	clusterClients  = flag.Int("cluster.clients", 240, "clients in TestClusterBehindNginx")
	clusterRooms    = flag.Int("cluster.rooms", 12, "rooms the clients are spread over")
	clusterInterval = flag.Duration("cluster.interval", time.Second, "time between two messages of one client")
	clusterBin      = flag.String("cluster.bin", "", "run the servers from this `binary` (go build -o BIN .) instead of the test binary")
	clusterSaturate = flag.Duration("cluster.saturate", 0, "after the steady state, have every room talk as fast as the cluster takes it for this `long` (0: no such phase)")
	clusterFigures  = flag.String("cluster.figures", "", "write what the test measured to this `file`, as a Markdown table (see figures.sh)")
)

// saturateRounds is how many rounds a room may have in flight during the
// saturated phase: it bounds what any member has queued to that many times
// its room's size in messages, well below -send-queue.
const saturateRounds = 2

// TestClusterBehindNginx runs three server processes, built from this
// package and clustered through their embedded NATS servers, behind nginx,
// which balances the WebSocket upgrades over them. A few hundred clients
// connect through nginx and talk in rooms, every message numbered by its
// sender.
//
//  1. Steady state: every message reaches every member of its room, on
//     every server, exactly once and in order per sender.
//  2. One server is killed (SIGKILL) and another stopped (SIGTERM) while
//     the clients talk. Their clients reconnect through nginx to the last
//     one. Delivery is at most once: the test counts what was lost and
//     checks that every loss falls within a disconnection of its sender
//     or its receiver, that nothing was duplicated or reordered, that
//     members who stayed connected to each other lost nothing, and that
//     every member's view of its room is right at the end.
//
// With -cluster.saturate, a saturated phase (see saturated) comes between
// the two; with -cluster.figures, what the test measured is written out
// as a Markdown table (figures.sh puts it in README.md).
func TestClusterBehindNginx(t *testing.T) {
	nginx := findNginx()
	if nginx == "" {
		t.Skip("nginx is not installed (Debian package nginx: apt-get install -y nginx); this test starts it with a generated configuration")
	}
	if testing.Short() {
		t.Skip("starts three servers, nginx and hundreds of clients; skipped with -short")
	}
	if *clusterFigures != "" && raceDetector {
		t.Fatal("-cluster.figures: run without -race, which would be measured too")
	}
	start := time.Now()
	dir := t.TempDir()
	fig := newFigures(nginx)

	// Three servers, each routing to the other two.
	nodes := []string{"n1", "n2", "n3"}
	clusterPorts := make([]int, len(nodes))
	for i := range nodes {
		clusterPorts[i] = freePort(t)
	}
	servers := make([]*serverProc, len(nodes))
	for i, node := range nodes {
		var routes []string
		for j, p := range clusterPorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		servers[i] = startServer(t, dir, node,
			"-addr", "127.0.0.1:0",
			"-cluster", fmt.Sprintf("127.0.0.1:%d", clusterPorts[i]),
			"-routes", strings.Join(routes, ","),
		)
	}
	ctx := testCtx(t, 150*time.Second+2**clusterSaturate)
	for _, s := range servers {
		waitFor(ctx, t, fmt.Sprintf("%s to hear from all three servers", s.node), func() bool {
			return len(s.health(t).Nodes) == len(nodes)
		})
	}
	rssBefore := make([]int, len(servers))
	for i, s := range servers {
		rssBefore[i] = s.rss(t)
	}
	lb := startNginx(t, dir, nginx, servers)
	t.Logf("cluster and nginx up in %v", time.Since(start).Round(time.Millisecond))

	// The clients, spread over the rooms; nginx spreads them over the servers.
	n := *clusterClients
	clients := make([]*load.Client, n)
	rooms := make(map[string][]*load.Client)
	runCtx, stopClients := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() {
		stopClients()
		running.Wait()
	})
	for i := range clients {
		c := &load.Client{
			URL:  lb + "/ws",
			Room: fmt.Sprintf("room%d", i%*clusterRooms),
			Name: fmt.Sprintf("c%03d", i),
			// As a browser would, from the page nginx serves: the
			// same-origin check sees nginx's host and port.
			Dial: &websocket.DialOptions{
				Proxy:      load.NoProxy,
				HTTPHeader: http.Header{"Origin": {"http" + strings.TrimPrefix(lb, "ws")}},
			},
		}
		clients[i] = c
		rooms[c.Room] = append(rooms[c.Room], c)
		running.Go(func() { c.Run(runCtx) })
	}
	for _, c := range clients {
		select {
		case <-c.Welcomed():
		case <-ctx.Done():
			t.Fatalf("%s never got into its room: %v", c.Name, c.Snapshot().Errors)
		}
	}
	spread := map[string]int{}
	for _, c := range clients {
		_, node := c.Where()
		spread[node]++
	}
	t.Logf("%d clients in %d rooms, connected through nginx to %v", n, len(rooms), spread)
	var memory []string
	for i, s := range servers {
		if spread[s.node] < n/6 {
			t.Errorf("nginx gave %s %d of %d clients", s.node, spread[s.node], n)
		}
		if spread[s.node] > 0 {
			kib := float64(s.rss(t)-rssBefore[i]) / 1024 / float64(spread[s.node])
			t.Logf("%s: %.1f KiB of RSS per connection (%d connections)", s.node, kib, spread[s.node])
			memory = append(memory, fmt.Sprintf("%s %.1f KiB (%d connections)", s.node, kib, spread[s.node]))
		}
	}
	fig.add("Memory: growth of each server's RSS from before the clients connected to after, per connection", strings.Join(memory, ", "))
	waitPresence(ctx, t, rooms)

	// 1. Steady state.
	const steadyMessages = 10
	phase := time.Now()
	talk(ctx, clients, *clusterInterval, steadyMessages)
	waitDelivered(ctx, t, rooms)
	elapsed := time.Since(phase)
	deliveries := 0
	for _, members := range rooms {
		deliveries += len(members) * len(members) * steadyMessages
	}
	for _, r := range clients {
		snap := r.Snapshot()
		for _, s := range rooms[r.Room] {
			p := snap.Peers[s.Name]
			if p.Received != steadyMessages || p.Last != steadyMessages || len(p.Gaps) > 0 || p.OutOfOrder > 0 {
				t.Errorf("steady state: %s got %+v from %s, want each of %d messages once, in order", r.Name, p, s.Name, steadyMessages)
			}
		}
	}
	lat := latencies(clients)
	t.Logf("steady state: %d messages, %d deliveries in %v (%.0f deliveries/s, paced at one message per client per %v); fan-out latency p50 %v, p99 %v, max %v",
		n*steadyMessages, deliveries, elapsed.Round(time.Millisecond), float64(deliveries)/elapsed.Seconds(), *clusterInterval,
		percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))
	perMessage := float64(deliveries) / float64(n*steadyMessages)
	fig.add(fmt.Sprintf("Paced (the offered load): each client sends one message per %v, %d in all", *clusterInterval, steadyMessages),
		fmt.Sprintf("%.0f messages/s in, %.0f deliveries/s out (%.0f members a room)", float64(n)/clusterInterval.Seconds(), float64(n)/clusterInterval.Seconds()*perMessage, perMessage))
	fig.add("Paced: fan-out latency (send to receipt, every member), p50 / p99 / max", fmt.Sprintf("%v / %v / %v", percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)))
	if t.Failed() {
		return
	}
	if *clusterSaturate > 0 {
		saturated(ctx, t, fig, clients, rooms, *clusterSaturate)
		if t.Failed() {
			return
		}
	}

	// 2. Failures, while everybody talks.
	talkCtx, stopTalking := context.WithCancel(ctx)
	talking := make(chan struct{})
	go func() {
		defer close(talking)
		talk(talkCtx, clients, *clusterInterval, -1)
	}()
	time.Sleep(2 * time.Second)
	on := onNode(clients)
	killedAt := time.Now()
	servers[0].signal(t, syscall.SIGKILL)
	waitFor(ctx, t, "the clients of n1 to reconnect", func() bool { return allConnected(clients, "n1") })
	t.Logf("SIGKILL n1: its %d clients reconnected in %v", len(on["n1"]), time.Since(killedAt).Round(time.Millisecond))
	fig.add("SIGKILL n1: until all its clients are back in their rooms on other servers, through nginx", fmt.Sprintf("%v (%d clients)", time.Since(killedAt).Round(10*time.Millisecond), len(on["n1"])))
	time.Sleep(time.Second)
	on2 := onNode(clients)
	termAt := time.Now()
	servers[1].signal(t, syscall.SIGTERM)
	waitFor(ctx, t, "the clients of n2 to reconnect", func() bool { return allConnected(clients, "n1", "n2") })
	t.Logf("SIGTERM n2: its %d clients reconnected in %v", len(on2["n2"]), time.Since(termAt).Round(time.Millisecond))
	fig.add("SIGTERM n2: until all its clients are back in their rooms on n3", fmt.Sprintf("%v (%d clients)", time.Since(termAt).Round(10*time.Millisecond), len(on2["n2"])))
	if err := servers[1].wait(15 * time.Second); err != nil {
		t.Errorf("n2 after SIGTERM: %v", err)
	}
	// Talk on, past the time n3 takes to forget n1 (3 heartbeats).
	time.Sleep(5 * time.Second)
	stopTalking()
	<-talking
	waitSettled(ctx, t, rooms)
	waitPresence(ctx, t, rooms)
	if h := servers[2].health(t); !slices.Equal(h.Nodes, []string{"n3"}) || h.Members != n {
		t.Errorf("n3 reports %+v, want itself alone with all %d members", h, n)
	}

	// Close codes: none for the killed server, 1001 for the stopped one.
	for _, c := range on["n1"] {
		// No close frame: 1006 if nginx closed the connection, -1 (not a
		// close) if it reset it.
		if codes := c.Snapshot().Codes; len(codes) == 0 || codes[0] != websocket.StatusAbnormalClosure && codes[0] != -1 {
			t.Errorf("%s was on n1, killed: its connections ended with %v, want no close frame first", c.Name, codes)
		}
	}
	for _, c := range on2["n2"] {
		codes := c.Snapshot().Codes
		if len(codes) == 0 || codes[len(codes)-1] != websocket.StatusGoingAway {
			t.Errorf("%s was on n2, stopped: its connections ended with %v, want 1001 last", c.Name, codes)
		}
	}

	// What was lost, and whether each loss is one at-most-once allows.
	ls := checkLosses(t, clients, rooms, killedAt, termAt)
	fig.add("At most once: deliveries lost in the whole run, every one around the SIGKILL of n1 or the SIGTERM of n2 (the test fails otherwise)",
		fmt.Sprintf("%d of %d (%.2f%%); none duplicated or reordered", ls.lost, ls.expected, 100*float64(ls.lost)/float64(max(ls.expected, 1))))
	lat = latencies(clients)
	t.Logf("whole run: fan-out latency p50 %v, p99 %v, max %v", percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))

	stopClients()
	running.Wait()
	servers[2].signal(t, syscall.SIGTERM)
	if err := servers[2].wait(15 * time.Second); err != nil {
		t.Errorf("n3 after SIGTERM: %v", err)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
	if *clusterFigures != "" && !t.Failed() {
		if err := fig.write(*clusterFigures, n, len(rooms)); err != nil {
			t.Error(err)
		}
	}
}

// saturated has every room talk in rounds, as fast as the cluster takes
// them, for d: in a round each member of the room sends one message, and
// a room starts a round only while fewer than saturateRounds of its
// rounds are still on their way to some member. Then it waits until
// every message has reached every member of its room. Every message must
// arrive, once and in order: the bound keeps every member far from the
// slow-consumer limit.
func saturated(ctx context.Context, t *testing.T, fig *figures, clients []*load.Client, rooms map[string][]*load.Client, d time.Duration) {
	t.Helper()
	before := make(map[string]uint64, len(clients))
	for _, c := range clients {
		before[c.Name] = c.Sent()
	}
	phase := time.Now()
	end := phase.Add(d)
	var wg sync.WaitGroup
	for _, members := range rooms {
		wg.Go(func() {
			// received counts what the room's members got: a round adds
			// len(members) messages for each of them.
			received := func() (sum uint64) {
				for _, c := range members {
					sum += c.Received()
				}
				return sum
			}
			base, perRound := received(), uint64(len(members)*len(members))
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for rounds := uint64(0); time.Now().Before(end) && ctx.Err() == nil; {
				if done := (received() - base) / perRound; rounds-done < saturateRounds {
					for _, c := range members {
						c.Send(ctx) // a failure shows in the checks below
					}
					rounds++
					continue
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Wait()
	waitDelivered(ctx, t, rooms)
	elapsed := time.Since(phase)
	var messages, deliveries uint64
	for _, members := range rooms {
		for _, s := range members {
			k := s.Sent() - before[s.Name]
			messages += k
			deliveries += k * uint64(len(members))
		}
	}
	for _, r := range clients {
		snap := r.Snapshot()
		if snap.Connects != 1 {
			t.Errorf("saturated: %s was disconnected (%v)", r.Name, snap.Codes)
		}
		for _, s := range rooms[r.Room] {
			p := snap.Peers[s.Name]
			if sent := s.Sent(); p.Received != sent || p.Last != sent || len(p.Gaps) > 0 || p.OutOfOrder > 0 {
				t.Errorf("saturated: %s got %+v from %s, want each of %d messages once, in order", r.Name, p, s.Name, sent)
			}
		}
	}
	lat := latencies(clients)
	t.Logf("saturated: %d messages, %d deliveries in %v (%.0f messages/s, %.0f deliveries/s; at most %d rounds in flight per room); fan-out latency p50 %v, p99 %v, max %v",
		messages, deliveries, elapsed.Round(time.Millisecond), float64(messages)/elapsed.Seconds(), float64(deliveries)/elapsed.Seconds(), saturateRounds,
		percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))
	fig.add(fmt.Sprintf("Saturated: for %v every room talks in rounds (each member sends one message), %d rounds in flight per room, then all is delivered", d, saturateRounds),
		fmt.Sprintf("%.0f messages/s in, %.0f deliveries/s out (%d messages in %v)", float64(messages)/elapsed.Seconds(), float64(deliveries)/elapsed.Seconds(), messages, elapsed.Round(10*time.Millisecond)))
	fig.add("Saturated: fan-out latency, p50 / p99 / max", fmt.Sprintf("%v / %v / %v", percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)))
}

// figures is what TestClusterBehindNginx measured, for -cluster.figures.
type figures struct {
	nginx string
	rows  [][2]string
}

func newFigures(nginx string) *figures {
	f := &figures{nginx: "nginx"}
	if *clusterFigures == "" {
		return f
	}
	out, _ := exec.Command(nginx, "-v").CombinedOutput()
	if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: "); ok {
		f.nginx = v
	}
	return f
}

func (f *figures) add(what, value string) {
	f.rows = append(f.rows, [2]string{what, value})
}

// write writes the figures as Markdown: a line saying what ran where,
// then the table.
func (f *figures) write(path string, clients, rooms int) error {
	servers := "the test binary, without the race detector"
	if *clusterBin != "" {
		servers = "`" + filepath.Base(*clusterBin) + "` (`-cluster.bin`)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on %s: %s, %d CPUs (%s), %s, %s. Three server processes (%s), nginx and the test's %d clients, in %d rooms, all on this machine, through 127.0.0.1.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version(), f.nginx, servers, clients, rooms)
	b.WriteString("| measured | result |\n|---|---|\n")
	for _, r := range f.rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// cpuModel returns the processor's name, as Linux reports it.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown processor"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown processor"
}

// checkLosses goes over every pair of sender and receiver in a room and
// accounts for every message the receiver did not get. At most once
// allows two kinds of loss, told apart by the connections involved rather
// than by time (a loaded machine can take seconds to notice a close):
//
//   - the receiver's: the receiver got the messages before and after the
//     gap on different connections, and the lost message was sent before
//     its new connection's welcome;
//   - the sender's: the lost message was sent on a connection of the sender
//     that then ended, and nothing the sender said later on that
//     connection reached the receiver (its server died or closed before
//     passing it on).
//
// Anything else, a duplicate or a message out of order is an error.
func checkLosses(t *testing.T, clients []*load.Client, rooms map[string][]*load.Client, killedAt, termAt time.Time) lossStats {
	t.Helper()
	snaps := make(map[string]load.Snapshot, len(clients))
	for _, c := range clients {
		snaps[c.Name] = c.Snapshot()
	}
	var sent, expected, lost, byReceiver, nearKill, nearTerm, outOfOrder uint64
	bySender := map[string]uint64{} // by the server the lost message was sent to
	unexplained := 0
	for _, r := range clients {
		rs := snaps[r.Name]
		for _, s := range rooms[r.Room] {
			ss := snaps[s.Name]
			expected += ss.Sent
			p := rs.Peers[s.Name]
			outOfOrder += p.OutOfOrder
			if p.OutOfOrder > 0 {
				t.Errorf("%s got %d messages of %s twice or out of order", r.Name, p.OutOfOrder, s.Name)
			}
			gaps := p.Gaps
			if p.Last < ss.Sent { // the end never came
				gaps = append(gaps, load.Gap{From: p.Last + 1, To: ss.Sent, Before: p.LastConn, After: rs.Connects})
			}
			for _, g := range gaps {
				for seq := g.From; seq <= g.To; seq++ {
					lost++
					at := time.Unix(0, ss.SentAt[seq-1])
					conn := ss.SentOn[seq-1]
					switch {
					case g.After > g.Before && !at.After(rs.Welcomes[g.After-1].Add(250*time.Millisecond)):
						byReceiver++
					case conn < ss.Connects && p.LastBy[ss.IDs[conn-1]] < seq:
						bySender[strings.Split(ss.IDs[conn-1], "-")[0]]++
					default:
						unexplained++
						if unexplained <= 10 {
							t.Errorf("%s lost message %d of %s, sent at %s on its connection %d of %d; the receiver got the messages around it on its connections %d and %d (of %d)",
								r.Name, seq, s.Name, at.Format("15:04:05.000"), conn, ss.Connects, g.Before, g.After, rs.Connects)
						}
						continue
					}
					if at.Sub(killedAt).Abs() < at.Sub(termAt).Abs() {
						nearKill++
					} else {
						nearTerm++
					}
				}
			}
		}
	}
	for _, c := range clients {
		sent += snaps[c.Name].Sent
	}
	if unexplained > 0 {
		t.Errorf("%d losses are neither the receiver's nor the sender's", unexplained)
	}
	steady, slow := 0, 0
	for _, c := range clients {
		if snaps[c.Name].Connects == 1 {
			steady++
		}
		for _, code := range snaps[c.Name].Codes {
			if code == websocket.StatusPolicyViolation {
				slow++
			}
		}
	}
	t.Logf("at most once: %d messages sent, %d deliveries due, %d lost (%.2f%%): %d while the receiver was reconnecting, %d sent to the killed server n1 and %d to the stopped n2 as they went; %d around the SIGKILL, %d around the SIGTERM; %d duplicated or reordered; %d of %d clients never disconnected; %d drops for being too slow",
		sent, expected, lost, 100*float64(lost)/float64(max(expected, 1)), byReceiver, bySender["n1"], bySender["n2"], nearKill, nearTerm, outOfOrder, steady, len(clients), slow)
	return lossStats{expected: expected, lost: lost}
}

// lossStats is what checkLosses counted: deliveries due and lost.
type lossStats struct {
	expected, lost uint64
}

// talk has every client send count messages (forever if count < 0), one
// per interval, each client at its own phase, until ctx ends.
func talk(ctx context.Context, clients []*load.Client, interval time.Duration, count int) {
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			offset := interval * time.Duration(i) / time.Duration(len(clients))
			select {
			case <-ctx.Done():
				return
			case <-time.After(offset):
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for sent := 0; count < 0 || sent < count; {
				if c.Send(ctx) {
					sent++
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
}

// waitDelivered waits until every client has received the last message
// of every member of its room.
func waitDelivered(ctx context.Context, t *testing.T, rooms map[string][]*load.Client) {
	t.Helper()
	waitFor(ctx, t, "every message to arrive", func() bool {
		for _, members := range rooms {
			for _, r := range members {
				for _, s := range members {
					if r.Last(s.Name) != s.Sent() {
						return false
					}
				}
			}
		}
		return true
	})
}

// waitSettled waits until every client has received the last message of
// every member of its room, or until none has received anything for 5s:
// a client dropped or disconnected at the very end misses the last ones.
func waitSettled(ctx context.Context, t *testing.T, rooms map[string][]*load.Client) {
	t.Helper()
	total := func() (sum uint64, done bool) {
		done = true
		for _, members := range rooms {
			for _, r := range members {
				for _, s := range members {
					last := r.Last(s.Name)
					sum += last
					done = done && last == s.Sent()
				}
			}
		}
		return sum, done
	}
	prev, since := uint64(0), time.Now()
	waitFor(ctx, t, "the messages to settle", func() bool {
		sum, done := total()
		if sum != prev {
			prev, since = sum, time.Now()
		}
		return done || time.Since(since) > 5*time.Second
	})
}

// waitPresence waits until every client's view of its room is the room:
// the current member ids of all its clients.
func waitPresence(ctx context.Context, t *testing.T, rooms map[string][]*load.Client) {
	t.Helper()
	var bad string
	ok := poll(ctx, func() bool {
		for room, members := range rooms {
			var want []string
			for _, c := range members {
				id, _ := c.Where()
				want = append(want, id)
			}
			slices.Sort(want)
			for _, c := range members {
				if got := c.View(); !slices.Equal(got, want) {
					bad = fmt.Sprintf("%s sees %s as %v, want %v", c.Name, room, got, want)
					return false
				}
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("presence: %s", bad)
	}
}

func poll(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(ctx, cond) {
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
}

// onNode groups the clients by the server they are connected to.
func onNode(clients []*load.Client) map[string][]*load.Client {
	m := map[string][]*load.Client{}
	for _, c := range clients {
		_, node := c.Where()
		m[node] = append(m[node], c)
	}
	return m
}

// allConnected reports whether every client is in its room on a server
// other than those named.
func allConnected(clients []*load.Client, not ...string) bool {
	for _, c := range clients {
		if _, node := c.Where(); node == "" || slices.Contains(not, node) {
			return false
		}
	}
	return true
}

func latencies(clients []*load.Client) []time.Duration {
	var all []time.Duration
	for _, c := range clients {
		all = append(all, c.TakeLatencies()...)
	}
	slices.Sort(all)
	return all
}

// percentile returns the p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i].Round(10 * time.Microsecond)
}

func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// serverEnv, set to 1, makes the test binary run as the server.
const serverEnv = "CLUSTER_TEST_SERVER"

// TestMain lets TestClusterBehindNginx run servers from the test binary,
// which holds this package: started with serverEnv set, the binary is the
// server, main and all. That spares a build (of NATS, twice: with and
// without the race detector), and the servers run under the race detector
// when the test does.
func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serverCommand returns the command that runs the server with args: the
// test binary itself, or -cluster.bin.
func serverCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if *clusterBin != "" {
		return exec.Command(*clusterBin, args...)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	return cmd
}

// serverProc is a server process.
type serverProc struct {
	node string
	http string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startServer starts the server binary and waits for its listening line.
// It is killed at the end of the test if still running; its log is shown
// if the test failed.
func startServer(t *testing.T, dir, node string, args ...string) *serverProc {
	t.Helper()
	s := &serverProc{node: node, log: filepath.Join(dir, node+".log"), done: make(chan struct{})}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = serverCommand(t, append([]string{"-node", node}, args...)...)
	s.cmd.Stderr = logf
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		s.err = s.cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			out, _ := os.ReadFile(s.log)
			t.Logf("%s's log (last 4 KiB):\n%s", node, tail(out, 4<<10))
		}
	})
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			t.Fatalf("%s printed %q", node, line)
		}
		s.http = addr
	case <-s.done:
		out, _ := os.ReadFile(s.log)
		t.Fatalf("%s exited: %v\n%s", node, s.err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start", node)
	}
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (s *serverProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v", s.node, err)
	}
}

// wait waits for the process to exit and returns how it ended.
func (s *serverProc) wait(d time.Duration) error {
	select {
	case <-s.done:
		return s.err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

func (s *serverProc) health(t *testing.T) health {
	t.Helper()
	resp, err := http.Get(s.http + "/healthz")
	if err != nil {
		t.Fatalf("%s: %v", s.node, err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("%s: %v", s.node, err)
	}
	return h
}

// rss returns the process's resident memory, in bytes.
func (s *serverProc) rss(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb << 10
		}
	}
	return 0
}

// nginxConf balances WebSocket upgrades over the servers, round robin.
// A server that refuses a connection is skipped for fail_timeout, and the
// upgrade is retried on the next one.
const nginxConf = `worker_processes 1;
worker_rlimit_nofile 8192;
pid {{dir}}/nginx.pid;
error_log stderr notice;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    upstream chat {
{{servers}}
    }
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    server {
        listen 127.0.0.1:{{port}};
        location / {
            proxy_pass http://chat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host; # with the port: the same-origin check compares it
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`

// startNginx starts nginx in the foreground, with its configuration,
// pid file and temporary files in dir, and returns its ws:// URL. It is
// stopped at the end of the test.
func startNginx(t *testing.T, dir, nginx string, servers []*serverProc) string {
	t.Helper()
	port := freePort(t)
	var upstreams strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&upstreams, "        server %s max_fails=1 fail_timeout=10s;\n", strings.TrimPrefix(s.http, "http://"))
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port), "{{servers}}", upstreams.String()).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "nginx.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", "stderr", "-c", confPath, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("nginx's log (last 4 KiB):\n%s", tail(out, 4<<10))
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx := testCtx(t, 20*time.Second)
	waitFor(ctx, t, "nginx to listen", func() bool {
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("nginx exited:\n%s", out)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "ws://" + addr
}
