module github.com/wampd/wampd/bench/peers/nexus

go 1.26

require github.com/gammazero/nexus/v3 v3.3.0

require (
	github.com/gammazero/deque v1.2.1 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/tinylib/msgp v1.6.5 // indirect
	github.com/ugorji/go/codec v1.3.1 // indirect
)

require (
	github.com/wampd/wampd v0.0.0
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.48.0
)

// The client under test is the one in this work tree.
replace github.com/wampd/wampd => ../../..
