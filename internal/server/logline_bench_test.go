package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/peer"
)

// BenchmarkRPCLine is the cost of one gRPC access line, as the gateway
// writes it by default (text, info), to a writer that discards it.
func BenchmarkRPCLine(b *testing.B) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), rpcRefusals: newRateLog()}
	ctx := peer.NewContext(s.begin(context.Background(), true), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.logDone(ctx, "/bcpii.v1.JobService/GetJob", start, nil)
	}
}
