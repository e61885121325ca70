package app

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/internal/ratelog"
	"github.com/bcpii-gateway/bcpii-gateway/internal/telemetry"
)

// accessLog is the REST access log and its metrics: one line per request,
// "rest", with the method, route pattern, status, HMC reason, kind of
// principal, request id and duration, and the gRPC method and code of the
// call it made to the service in-process (rpc, code; rpc_calls when more
// than one), which logs no line of its own. Refusals (4xx) are the lines a
// client can make as fast as it likes, so they are rate-limited, saying
// how many were dropped; answers and server errors are not.
type accessLog struct {
	log     *slog.Logger
	metrics *telemetry.Metrics
	lim     *ratelog.Limiter
}

func newAccessLog(log *slog.Logger, m *telemetry.Metrics) *accessLog {
	return &accessLog{log: log, metrics: m, lim: ratelog.New(20, 200)}
}

func (l *accessLog) observe(ctx context.Context, a gateway.Access) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetName(a.Method + " " + a.Route)
	}
	l.write(ctx, a)
	// Counted after the line is written: once the count moved, the line
	// is there.
	l.metrics.REST(a.Method, a.Route, a.Status, a.Reason, a.Principal, a.Duration)
}

func (l *accessLog) write(ctx context.Context, a gateway.Access) {
	level := slog.LevelInfo
	switch {
	case a.Status >= 500 && a.Status != 503:
		level = slog.LevelError
	case a.Status >= 500:
		level = slog.LevelWarn
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	var dropped int64
	if a.Status >= 400 && a.Status < 500 {
		var ok bool
		if ok, dropped = l.lim.Allow(); !ok {
			return
		}
	}
	// A record of its own, made without the caller's program counter
	// that Logger.LogAttrs looks up for every line and no handler here
	// prints.
	// The attributes go in at once: the record then grows once.
	var buf [11]slog.Attr
	attrs := append(buf[:0],
		slog.String("method", a.Method), slog.String("route", a.Route),
		slog.Int("status", a.Status), slog.Int("reason", a.Reason),
		slog.String("principal", a.Principal), slog.String("request_id", a.RequestID),
		slog.Duration("duration", a.Duration))
	if a.Path != "" {
		attrs = append(attrs, slog.String("path", a.Path))
	}
	if a.RPC != "" {
		attrs = append(attrs, slog.String("rpc", a.RPC), slog.String("code", a.Code))
		if a.Calls > 1 {
			attrs = append(attrs, slog.Int("rpc_calls", a.Calls))
		}
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int64("dropped_since_last", dropped))
	}
	r := slog.NewRecord(time.Now(), level, "rest", 0)
	r.AddAttrs(attrs...)
	_ = l.log.Handler().Handle(ctx, r)
}
