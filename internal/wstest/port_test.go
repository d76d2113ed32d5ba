package wstest

import (
	"fmt"
	"net"
	"testing"
)

func TestFreePort(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		port := FreePort(t)
		if port < firstPort || port >= low {
			t.Fatalf("port %d outside [%d, %d)", port, firstPort, low)
		}
		if seen[port] {
			t.Fatalf("port %d given twice", port)
		}
		seen[port] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("the port given cannot be bound: %v", err)
		}
		l.Close()
	}
}
