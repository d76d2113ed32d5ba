// Package xconnect turns on extended CONNECT (RFC 8441) in the HTTP/2
// servers of net/http and golang.org/x/net/http2, which WebSockets over
// HTTP/2 need. Import it for its side effect, in the main package:
//
//	import _ "github.com/fullduplex/websocket/xconnect"
//
// Go 1.25 and 1.26 keep extended CONNECT off unless the environment holds
// GODEBUG=http2xconnect=1 (golang/go#71128), which both packages read once,
// when they are initialised; a //go:debug line cannot set it, since the go
// command does not know the setting. This package adds http2xconnect=1 to
// GODEBUG in its init function. Go initialises packages in the order of
// their import paths wherever dependencies allow (the language
// specification, "Package initialization"), and this package depends only
// on os and strings, which net/http depends on too: so it always runs
// before net/http and golang.org/x/net/http2 read the variable.
//
// It changes nothing when GODEBUG already mentions http2xconnect, so
// GODEBUG=http2xconnect=0 in the environment still turns the feature off.
// The setting is process-wide: every HTTP/2 server in the process then
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, and browsers open their
// WebSockets to it over HTTP/2, so every WebSocket endpoint the process
// serves must accept them (those of github.com/fullduplex/websocket do).
// Child processes inherit the variable.
package xconnect

import (
	"os"
	"strings"
)

func init() {
	v := os.Getenv("GODEBUG")
	if strings.Contains(v, "http2xconnect=") {
		return
	}
	if v != "" {
		v += ","
	}
	os.Setenv("GODEBUG", v+"http2xconnect=1")
}
