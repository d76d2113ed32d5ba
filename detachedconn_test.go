package websocket

import (
	"net"
	"testing"
)

// addrConn is a net.Conn that only has addresses.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (a addrConn) LocalAddr() net.Addr  { return a.local }
func (a addrConn) RemoteAddr() net.Addr { return a.remote }

func TestDetachKeepsAddresses(t *testing.T) {
	tests := []struct {
		name          string
		local, remote net.Addr
		compact       bool
		v4            bool // in 16 bytes
	}{
		{
			name:    "IPv4",
			local:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 8080},
			remote:  &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 50123},
			compact: true,
			v4:      true,
		},
		{
			name:    "IPv6",
			local:   &net.TCPAddr{IP: net.IPv6loopback, Port: 8080},
			remote:  &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 1},
			compact: true,
		},
		{
			name:    "IPv4-mapped IPv6",
			local:   &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 443},
			remote:  &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.2"), Port: 4443},
			compact: true,
			v4:      true,
		},
		{
			name:   "IPv6 with a zone",
			local:  &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 80, Zone: "eth0"},
			remote: &net.TCPAddr{IP: net.ParseIP("fe80::2"), Port: 81, Zone: "eth0"},
		},
		{
			name:   "Unix",
			local:  &net.UnixAddr{Name: "/tmp/ws.sock", Net: "unix"},
			remote: &net.UnixAddr{Name: "@", Net: "unix"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := detach(addrConn{local: tt.local, remote: tt.remote})
			_, c4 := d.(*detachedConn4)
			_, c16 := d.(*detachedConn)
			if got := c4 || c16; got != tt.compact || c4 != tt.v4 {
				t.Errorf("kept as %T: compact %v (want %v), IPv4 %v (want %v)", d, got, tt.compact, c4, tt.v4)
			}
			for _, pair := range [][2]net.Addr{{d.LocalAddr(), tt.local}, {d.RemoteAddr(), tt.remote}} {
				got, want := pair[0], pair[1]
				if got.Network() != want.Network() || got.String() != want.String() {
					t.Errorf("address %s %s, want %s %s", got.Network(), got, want.Network(), want)
				}
			}
			if n, err := d.Read(make([]byte, 1)); n != 0 || err != net.ErrClosed {
				t.Errorf("Read = %d, %v; want net.ErrClosed", n, err)
			}
		})
	}
}
