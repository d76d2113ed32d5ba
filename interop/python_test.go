package interop

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// debianPython is the system's Python, which has Debian's websockets; the
// first python3 on PATH may be another installation without it.
const debianPython = "/usr/bin/python3"

// pythonWebsockets is Python's websockets package (Debian's
// python3-websockets), run by peers/websockets_peer.py.
var pythonWebsockets = programPeer{
	name: "Python websockets",
	argv: func(t *testing.T, args ...string) []string {
		need(t, debianPython, "apt-get install python3")
		if out, err := exec.Command(debianPython, "-c", "import websockets").CombinedOutput(); err != nil {
			t.Fatalf("%s cannot import websockets (%v: %s): apt-get install python3-websockets, or run bash interop/run.sh --install", debianPython, err, out)
		}
		return append([]string{debianPython, "-u", filepath.Join("peers", "websockets_peer.py")}, args...)
	},
}

func TestPythonClient(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerClient(t, pythonWebsockets, comp, readsGoroutine) })
	}
}

// TestPythonClientPoller is TestPythonClient with our server in Poller mode.
func TestPythonClientPoller(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerClient(t, pythonWebsockets, comp, readsPoller) })
	}
}

func TestPythonServer(t *testing.T) {
	for _, comp := range compressionModes {
		t.Run(comp.name, func(t *testing.T) { testPeerServer(t, pythonWebsockets, comp) })
	}
}
