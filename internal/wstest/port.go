package wstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free when checked, for
// a program started later that must be told its port and cannot take over
// a listening socket (nginx, tinyproxy, a NATS server).
//
// The port is taken below the kernel's ephemeral range. A port from that
// range, the kind a listener on ":0" gets, can be handed meanwhile to any
// outgoing connection or ":0" listener on the machine, by a test of
// another package running at the same time as much as by this one, and
// the program then fails to bind it. Below the range only another caller
// of FreePort can pick it, and within a process FreePort never gives the
// same port twice.
func FreePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 200 {
		port := firstPort + rand.IntN(low-firstPort)
		if _, dup := givenPorts.LoadOrStore(port, true); dup {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("wstest: no free port below the ephemeral range")
	return 0
}

// firstPort is the lowest port FreePort gives: the ports below are where
// system services listen.
const firstPort = 10000

// givenPorts holds the ports FreePort gave.
var givenPorts sync.Map

// ephemeralLow is the first port of the kernel's ephemeral range (Linux
// ip_local_port_range), or 32768, below every system's default, where it
// cannot be read or leaves too little room under it.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > firstPort+1000 {
				low = n
			}
		}
	}
	return low
}
