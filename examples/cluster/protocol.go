package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"unicode/utf8"
)

// What clients and servers say to each other. Every message is a JSON
// text message.
//
// A client sends only chat messages:
//
//	{"text": "hello", "seq": 17}
//
// seq is optional and is passed through untouched; the load client numbers
// its messages with it to check delivery end to end.
//
// A client receives:
//
//	{"type":"welcome","room":"lobby","id":"n1-4","name":"ann","node":"n1","members":[{"id":"n2-1","name":"bob","node":"n2"}]}
//	{"type":"msg","room":"lobby","id":"n2-1","name":"bob","node":"n2","seq":17,"text":"hello"}
//	{"type":"join","room":"lobby","id":"n3-9","name":"cat","node":"n3"}
//	{"type":"leave","room":"lobby","id":"n3-9","name":"cat","node":"n3","reason":"closed"}
//
// welcome comes first and only once per connection: members is the room as
// this server knows it at that moment, without the new member, whose own
// join event follows. From then on, join and leave events keep the list
// up to date. id names one connection (node, then a counter): a client
// that reconnects is a new member with a new id.

// inbound is what a client sends.
type inbound struct {
	Text string  `json:"text"`
	Seq  *uint64 `json:"seq,omitempty"`
}

// event is what a server publishes on NATS and what clients receive. The
// bytes published are the bytes every member receives: a server parses
// only presence events, and no server re-encodes a chat message.
type event struct {
	Type   string  `json:"type"`
	Room   string  `json:"room"`
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Node   string  `json:"node"`
	Seq    *uint64 `json:"seq,omitempty"`
	Text   string  `json:"text,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

// welcome is the first message on every connection.
type welcome struct {
	Type    string       `json:"type"` // "welcome"
	Room    string       `json:"room"`
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Node    string       `json:"node"`
	Members []memberInfo `json:"members"`
}

// memberInfo is a member as presence knows it.
type memberInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Node string `json:"node"`
	Room string `json:"room,omitempty"`
}

// heartbeat is what every server publishes about itself every
// heartbeatInterval: the whole list of its members, so that servers that
// start later learn them and servers that missed an event catch up.
type heartbeat struct {
	Node    string       `json:"node"`
	Members []memberInfo `json:"members"`
	// Bye is set on the last heartbeat of a server that shuts down: the
	// others forget it at once.
	Bye bool `json:"bye,omitempty"`
}

const (
	// maxMessageSize bounds what a client may send, in bytes; a larger
	// message closes its connection with 1009 (message too big).
	maxMessageSize = 4 << 10
	// maxNameSize bounds a member's name, in bytes of UTF-8.
	maxNameSize = 32
)

// roomPattern is what a room name may be: one NATS subject token.
var roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func validName(s string) bool {
	return s != "" && len(s) <= maxNameSize && utf8.ValidString(s)
}

// marshal encodes v without escaping <, > and &, which browsers and Go
// clients read as they are.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only the types above are encoded
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
