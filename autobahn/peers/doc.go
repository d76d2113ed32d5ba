// Package peers runs the Go reproduction of the Autobahn|Testsuite
// (github.com/fullduplex/websocket/autobahn/suite) against other Go
// WebSocket libraries, to show that the suite judges any implementation and
// to record where each one falls short. It is a module of its own so that
// the library does not depend on its peers.
//
//	cd autobahn/peers && go test -v .
package peers
