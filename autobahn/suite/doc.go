// Package suite reproduces the fuzzing cases of the Autobahn|Testsuite in Go:
// the 517 cases of families 1 to 7, 9, 10, 12 and 13, numbered as Autobahn
// numbers them, with the same frames, write chopping, pauses, timers and
// verdicts (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED, and the
// separate close verdict), and reports in Autobahn's layout.
//
// It plays both of Autobahn's roles. As the fuzzing client, RunCase and
// RunCases test a WebSocket server by URL. As the fuzzing server, Server
// tests clients that follow Autobahn's testee-client protocol.
//
// Both roles also run over HTTP/2 (RFC 8441), where Autobahn has no
// equivalent: ClientCase.HTTP2 opens each case as an extended CONNECT
// stream, and Server.HTTP2Handler accepts them in net/http's HTTP/2
// server. The cases are the same; only the transport under their octets
// differs, and its end maps onto TCP's as RFC 8441, section 6, says
// (transport.go).
//
// The suite has its own frame codec, opening handshake and permessage-deflate
// (on compress/flate) and does not use any WebSocket library, so it can
// judge any implementation. Options scale the large cases down for quick
// runs and stretch its timing for busy machines; the defaults are Autobahn's.
//
// Each connection runs on an event loop of its own, like Autobahn's reactor:
// case code, frame processing and timers never run concurrently, and writes
// go out on their own goroutine so that a peer that does not read cannot
// stall the fuzzer.
package suite
