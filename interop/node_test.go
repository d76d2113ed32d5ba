package interop

import (
	"path/filepath"
	"testing"
)

// nodeWS is Node's ws package, run by peers/ws_peer.mjs.
var nodeWS = programPeer{
	name: "Node ws",
	argv: func(t *testing.T, args ...string) []string {
		node := need(t, "node", "apt-get install nodejs npm")
		needFile(t, filepath.Join("node_modules", "ws", "package.json"), "run npm ci in interop/")
		return append([]string{node, filepath.Join("peers", "ws_peer.mjs")}, args...)
	},
}

func TestNodeClient(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerClient(t, nodeWS, comp, readsGoroutine) })
	}
}

// TestNodeClientPoller is TestNodeClient with our server in Poller mode.
func TestNodeClientPoller(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerClient(t, nodeWS, comp, readsPoller) })
	}
}

func TestNodeServer(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerServer(t, nodeWS, comp) })
	}
}
