module github.com/fullduplex/websocket/autobahn/peers

go 1.25

replace github.com/fullduplex/websocket => ../..

require (
	github.com/coder/websocket v1.8.15
	github.com/fullduplex/websocket v0.0.0
	github.com/gorilla/websocket v1.5.3
)

require (
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/text v0.34.0 // indirect
)
