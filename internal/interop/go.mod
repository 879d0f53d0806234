module github.com/stdrealtime/realtime/internal/interop

go 1.25

require (
	github.com/gorilla/websocket v1.5.3
	github.com/stdrealtime/realtime v0.0.0-00010101000000-000000000000
)

require github.com/coder/websocket v1.8.15

replace github.com/stdrealtime/realtime => ../..
