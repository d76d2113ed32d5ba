// Package autobahn holds the conformance tests of github.com/fullduplex/websocket
// against the Autobahn|Testsuite cases, reproduced in Go by the suite
// subpackage: the library's server and client each run all 517 cases, with
// compression off and on, over HTTP/1.1 and over HTTP/2 (RFC 8441). The
// testee subpackage and the testee command are the endpoints the real
// Autobahn suite can test; see README.md.
//
// `go test ./autobahn` runs the cases with the large ones scaled down;
// -autobahn.full runs them at Autobahn's sizes. `go generate ./autobahn`
// runs them at full size, with the waits tripled as in CI so that a busy
// machine cannot fail a case on timing, and rewrites RESULTS.md.
package autobahn

//go:generate go test -run TestConformance -timeout 90m -autobahn.full -autobahn.timescale 3 -autobahn.results RESULTS.md
