// Package bench measures github.com/fullduplex/websocket side by side with
// the Go WebSocket libraries people compare it to: gorilla/websocket,
// coder/websocket, gobwas/ws and lxzan/gws.
//
// It is its own module so that the peers never enter the library's go.mod.
// The go test benchmarks here cover the in-memory measurements (message
// read and write, masking, upgrade and dial); cmd/echoserver and
// cmd/loadgen cover the loopback TCP echo and idle-memory measurements; and
// cmd/report runs everything, interleaved and repeated, and writes
// BENCHMARKS.md at the repository root:
//
//	cd bench && go run ./cmd/report          # full run, about 15 minutes
//	cd bench && go run ./cmd/report -quick   # a short run
package bench
