package main

import (
	"maps"
	"slices"
	"strings"
)

// presence is one server's view of who is in which room on every server.
// It changes only with what arrives on the bus, in bus order: join and
// leave events, and every server's heartbeat listing its members. Since a
// server publishes its events and heartbeats in the order its members
// came and went, all servers converge on the same view.
//
// A server that stops sending heartbeats (killed, cut off) is forgotten
// after missedHeartbeats of our own heartbeats have come back to us
// without one of its: its members are then reported as gone. Counting our
// own heartbeats rather than time means a server whose own bus stalls does
// not forget everybody else.
//
// presence is not safe for concurrent use; the hub guards it.
type presence struct {
	self  string
	rooms map[string]map[string]memberInfo // room → member id → member
	nodes map[string]*nodeView
	tick  uint64 // our own heartbeats seen on the bus
}

// nodeView is what presence knows of one server.
type nodeView struct {
	members  map[string]memberInfo // member id → member, with Room set
	lastTick uint64                // tick when last heard of
}

// missedHeartbeats is how many of our own heartbeats may pass without
// one from another server before it is taken for dead.
const missedHeartbeats = 3

func newPresence(self string) *presence {
	return &presence{
		self:  self,
		rooms: make(map[string]map[string]memberInfo),
		nodes: make(map[string]*nodeView),
	}
}

func (p *presence) node(name string) *nodeView {
	n := p.nodes[name]
	if n == nil {
		n = &nodeView{members: make(map[string]memberInfo)}
		p.nodes[name] = n
	}
	n.lastTick = p.tick
	return n
}

// join adds m and reports whether it was new.
func (p *presence) join(m memberInfo) bool {
	n := p.node(m.Node)
	if _, ok := n.members[m.ID]; ok {
		return false
	}
	n.members[m.ID] = m
	r := p.rooms[m.Room]
	if r == nil {
		r = make(map[string]memberInfo)
		p.rooms[m.Room] = r
	}
	r[m.ID] = m
	return true
}

// leave removes m and reports whether it was there.
func (p *presence) leave(m memberInfo) bool {
	n := p.node(m.Node)
	if _, ok := n.members[m.ID]; !ok {
		return false
	}
	p.remove(n, m.ID)
	return true
}

// remove deletes member id of node n and returns it.
func (p *presence) remove(n *nodeView, id string) memberInfo {
	m := n.members[id]
	delete(n.members, id)
	if r := p.rooms[m.Room]; r != nil {
		delete(r, id)
		if len(r) == 0 {
			delete(p.rooms, m.Room)
		}
	}
	return m
}

// heartbeat applies a server's heartbeat and returns the changes as
// events: its members that the view lacked or had too many of (events
// missed, or a server that started after them), and, when the heartbeat
// is our own, the members of servers that have gone quiet.
func (p *presence) heartbeat(hb heartbeat) []event {
	if hb.Node == p.self {
		p.tick++
	}
	var changes []event
	n := p.node(hb.Node)
	now := make(map[string]memberInfo, len(hb.Members))
	for _, m := range hb.Members {
		m.Node = hb.Node
		now[m.ID] = m
	}
	for _, id := range slices.Sorted(maps.Keys(n.members)) {
		if _, ok := now[id]; !ok {
			changes = append(changes, leaveChange(p.remove(n, id), "gone"))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(now)) {
		if m := now[id]; p.join(m) {
			changes = append(changes, event{Type: "join", Room: m.Room, ID: m.ID, Name: m.Name, Node: m.Node})
		}
	}
	if hb.Bye {
		delete(p.nodes, hb.Node)
	}
	if hb.Node == p.self {
		changes = append(changes, p.expire()...)
	}
	return changes
}

// expire forgets the servers not heard of for missedHeartbeats ticks.
func (p *presence) expire() []event {
	var changes []event
	for _, name := range slices.Sorted(maps.Keys(p.nodes)) {
		n := p.nodes[name]
		if name == p.self || p.tick-n.lastTick <= missedHeartbeats {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(n.members)) {
			changes = append(changes, leaveChange(p.remove(n, id), "server lost"))
		}
		delete(p.nodes, name)
	}
	return changes
}

func leaveChange(m memberInfo, reason string) event {
	return event{Type: "leave", Room: m.Room, ID: m.ID, Name: m.Name, Node: m.Node, Reason: reason}
}

// roster returns the members of room, ordered by id, without their room.
func (p *presence) roster(room string) []memberInfo {
	r := p.rooms[room]
	list := make([]memberInfo, 0, len(r))
	for _, id := range slices.Sorted(maps.Keys(r)) {
		m := r[id]
		m.Room = ""
		list = append(list, m)
	}
	return list
}

// liveNodes returns the servers in the view, ordered.
func (p *presence) liveNodes() []string {
	return slices.Sorted(maps.Keys(p.nodes))
}

// String describes the view, for tests and logs.
func (p *presence) String() string {
	var b strings.Builder
	for _, room := range slices.Sorted(maps.Keys(p.rooms)) {
		b.WriteString(room + ":")
		for _, m := range p.roster(room) {
			b.WriteString(" " + m.ID)
		}
		b.WriteString("\n")
	}
	return b.String()
}
