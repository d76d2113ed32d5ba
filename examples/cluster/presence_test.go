package main

import (
	"fmt"
	"strings"
	"testing"
)

// step is one thing that arrives on the bus.
type step struct {
	join, leave *memberInfo
	hb          *heartbeat
}

func joins(m memberInfo) step   { return step{join: &m} }
func leaves(m memberInfo) step  { return step{leave: &m} }
func beats(hb heartbeat) step   { return step{hb: &hb} }
func own(ms ...memberInfo) step { return beats(heartbeat{Node: "a", Members: ms}) }
func from(node string, ms ...memberInfo) step {
	return beats(heartbeat{Node: node, Members: ms})
}

func TestPresence(t *testing.T) {
	ann := memberInfo{ID: "a-1", Name: "ann", Node: "a", Room: "r"}
	bob := memberInfo{ID: "b-1", Name: "bob", Node: "b", Room: "r"}
	cat := memberInfo{ID: "b-2", Name: "cat", Node: "b", Room: "s"}
	for _, tc := range []struct {
		name    string
		steps   []step
		changes string // the events the last step produced, one per line
		view    string // the view afterwards
	}{
		{
			name:    "join and leave",
			steps:   []step{joins(ann), joins(bob), leaves(ann)},
			changes: "",
			view:    "r: b-1\n",
		},
		{
			name:    "a heartbeat tells of members that joined before we started",
			steps:   []step{from("b", bob, cat)},
			changes: "join r b-1\njoin s b-2\n",
			view:    "r: b-1\ns: b-2\n",
		},
		{
			name:    "a heartbeat that agrees changes nothing",
			steps:   []step{joins(bob), joins(cat), from("b", bob, cat)},
			changes: "",
			view:    "r: b-1\ns: b-2\n",
		},
		{
			name:    "a heartbeat corrects a missed leave",
			steps:   []step{joins(bob), joins(cat), from("b", cat)},
			changes: "leave r b-1 gone\n",
			view:    "s: b-2\n",
		},
		{
			name:    "a quiet server is kept for three of our heartbeats",
			steps:   []step{joins(ann), joins(bob), own(ann), own(ann), own(ann)},
			changes: "",
			view:    "r: a-1 b-1\n",
		},
		{
			name:    "a quiet server is forgotten after the fourth",
			steps:   []step{joins(ann), joins(bob), joins(cat), own(ann), own(ann), own(ann), own(ann)},
			changes: "leave r b-1 server lost\nleave s b-2 server lost\n",
			view:    "r: a-1\n",
		},
		{
			name:    "a server heard from is not forgotten",
			steps:   []step{joins(bob), own(), own(), from("b", bob), own(), own(), own()},
			changes: "",
			view:    "r: b-1\n",
		},
		{
			name:    "bye forgets the server at once",
			steps:   []step{joins(bob), leaves(bob), beats(heartbeat{Node: "b", Bye: true})},
			changes: "",
			view:    "",
		},
		{
			name:    "bye with members still listed in the view",
			steps:   []step{joins(bob), beats(heartbeat{Node: "b", Bye: true})},
			changes: "leave r b-1 gone\n",
			view:    "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPresence("a")
			var changes []event
			for _, s := range tc.steps {
				changes = nil
				switch {
				case s.join != nil:
					p.join(*s.join)
				case s.leave != nil:
					p.leave(*s.leave)
				default:
					changes = p.heartbeat(*s.hb)
				}
			}
			var got strings.Builder
			for _, ev := range changes {
				fmt.Fprintln(&got, strings.TrimSpace(strings.Join([]string{ev.Type, ev.Room, ev.ID, ev.Reason}, " ")))
			}
			if got.String() != tc.changes {
				t.Errorf("changes:\n%s\nwant:\n%s", got.String(), tc.changes)
			}
			if p.String() != tc.view {
				t.Errorf("view:\n%s\nwant:\n%s", p, tc.view)
			}
		})
	}
}
