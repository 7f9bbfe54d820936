package main
import (
 _ "github.com/panjf2000/gnet/v2"
 _ "github.com/gobwas/ws"
 _ "github.com/tinylib/msgp/msgp"
 _ "github.com/klauspost/compress/flate"
 _ "go.uber.org/goleak"
 _ "github.com/HdrHistogram/hdrhistogram-go"
)
func main(){}
