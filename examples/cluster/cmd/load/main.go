// Load connects many chat members to the cluster, has each of them send
// numbered messages at a steady pace, and reports what arrived: messages
// per second, fan-out latency, and what was lost, duplicated or
// reordered.
//
//	go run ./cmd/load -url ws://localhost:8080/ws -clients 200 -rooms 10 -interval 500ms -duration 30s
//
// Point it at the load balancer to spread the members over the servers.
// The members reconnect by themselves when a server goes away, so it can
// run while servers are stopped and started; delivery is at most once, so
// expect losses around those moments and none otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/cluster/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "ws://localhost:8080/ws", "the chat `endpoint`, or the load balancer in front of it")
	n := fs.Int("clients", 100, "`number` of members")
	rooms := fs.Int("rooms", 10, "`number` of rooms the members are spread over")
	interval := fs.Duration("interval", time.Second, "each member sends a message every `period`")
	duration := fs.Duration("duration", 30*time.Second, "send for this `long`")
	settle := fs.Duration("settle", 5*time.Second, "then wait this `long` for the last messages")
	prefix := fs.String("prefix", fmt.Sprintf("load%d-", os.Getpid()), "members are named `prefix`N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *rooms < 1 || *interval <= 0 {
		return errors.New("-clients, -rooms and -interval must be positive")
	}

	clients := make([]*load.Client, *n)
	runCtx, stopClients := context.WithCancel(context.Background())
	var running sync.WaitGroup
	defer func() {
		stopClients()
		running.Wait()
	}()
	for i := range clients {
		c := &load.Client{
			URL:  *url,
			Room: fmt.Sprintf("room%d", i%*rooms),
			Name: fmt.Sprintf("%s%d", *prefix, i),
			Dial: &websocket.DialOptions{Proxy: load.NoProxy},
		}
		clients[i] = c
		running.Go(func() { c.Run(runCtx) })
	}
	for _, c := range clients {
		select {
		case <-c.Welcomed():
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s not in its room after 30s: %v", c.Name, c.Snapshot().Errors)
		}
	}
	nodes := map[string]int{}
	for _, c := range clients {
		_, node := c.Where()
		nodes[node]++
	}
	fmt.Fprintf(stdout, "%d members in %d rooms, on servers %v\n", *n, *rooms, nodes)

	sendCtx, stopSending := context.WithTimeout(ctx, *duration)
	defer stopSending()
	start := time.Now()
	var sending sync.WaitGroup
	for i, c := range clients {
		sending.Go(func() {
			// Spread the members' sends evenly over the interval.
			select {
			case <-sendCtx.Done():
				return
			case <-time.After(*interval * time.Duration(i) / time.Duration(len(clients))):
			}
			tick := time.NewTicker(*interval)
			defer tick.Stop()
			for {
				c.Send(sendCtx)
				select {
				case <-sendCtx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	sending.Wait()
	elapsed := time.Since(start)
	select {
	case <-ctx.Done():
	case <-time.After(*settle):
	}
	report(stdout, clients, elapsed)
	return nil
}

// report prints what the members sent and received.
func report(w io.Writer, clients []*load.Client, elapsed time.Duration) {
	byRoom := map[string][]load.Snapshot{}
	var lat []time.Duration
	for _, c := range clients {
		s := c.Snapshot()
		byRoom[s.Room] = append(byRoom[s.Room], s)
		lat = append(lat, c.TakeLatencies()...)
	}
	slices.Sort(lat)
	var sent, due, received, lost, outOfOrder uint64
	reconnects, codes := 0, map[websocket.StatusCode]int{}
	for _, members := range byRoom {
		for _, r := range members {
			reconnects += max(r.Connects-1, 0)
			for _, code := range r.Codes {
				codes[code]++
			}
			sent += r.Sent
			for _, s := range members {
				due += s.Sent
				p := r.Peers[s.Name]
				received += p.Received
				outOfOrder += p.OutOfOrder
				for _, g := range p.Gaps {
					lost += g.To - g.From + 1
				}
				lost += s.Sent - min(p.Last, s.Sent)
			}
		}
	}
	fmt.Fprintf(w, "sent %d messages in %v; %d deliveries due, %d received (%.0f/s)\n",
		sent, elapsed.Round(time.Millisecond), due, received, float64(received)/elapsed.Seconds())
	fmt.Fprintf(w, "lost %d (%.3f%%), duplicated or reordered %d\n", lost, 100*float64(lost)/float64(max(due, 1)), outOfOrder)
	fmt.Fprintf(w, "fan-out latency (send to receipt): p50 %v, p90 %v, p99 %v, max %v\n",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100))
	fmt.Fprintf(w, "reconnects %d; connections ended with %v\n", reconnects, codes)
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p/100)].Round(10 * time.Microsecond)
}
