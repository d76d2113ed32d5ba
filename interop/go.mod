module github.com/fullduplex/websocket/interop

go 1.25

require github.com/fullduplex/websocket v0.0.0

require (
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/text v0.34.0 // indirect
)

replace github.com/fullduplex/websocket => ../
