package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
)

// BenchmarkAccessLine is the cost of one REST access line, as the gateway
// writes it by default (text, info), to a writer that discards it.
func BenchmarkAccessLine(b *testing.B) {
	l := &accessLog{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a := gateway.Access{Method: "GET", Route: "/api/jobs/{job-id}", Status: 200, Principal: "partition",
		RequestID: "0123456789abcdef", Duration: 150 * time.Microsecond, RPC: "/bcpii.v1.JobService/GetJob", Code: "OK", Calls: 1}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.write(ctx, a)
	}
}
