package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/telemetry"
	"github.com/bcpii-gateway/bcpii-gateway/internal/upstream"
)

// DefaultAdminAddr is the command's admin listener address: loopback
// only, beside the HMC and gRPC ports.
const DefaultAdminAddr = "127.0.0.1:6796"

// readinessInterval is how often readiness is checked when no one asks,
// so that the bcpii_ready gauge stays current.
const readinessInterval = 30 * time.Second

// pinger is a part the gateway needs and can lose: the job store, the
// upstream HMC. Ping says whether it answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// ops is what operators see of the gateway: metrics, traces, readiness.
type ops struct {
	metrics *telemetry.Metrics
	tracing *telemetry.Tracing // nil when off
	checks  []readyCheck
	log     *slog.Logger

	// Checks run at once (a /readyz beside the periodic one) may end out
	// of order: bcpii_ready takes a component's result only from a check
	// begun after the one it shows.
	checkSeq  atomic.Uint64
	readyMu   sync.Mutex
	readySeqs map[string]uint64 // the check each gauge shows; under readyMu
}

type readyCheck struct {
	component string
	ping      func(ctx context.Context) error
}

func newOps(ctx context.Context, cfg Config, log *slog.Logger) (*ops, error) {
	o := &ops{metrics: telemetry.New(), log: log}
	if cfg.Tracing {
		t, err := telemetry.StartTracing(ctx, cfg.TracingProtocol)
		if err != nil {
			return nil, err
		}
		o.tracing = t
		log.Info("tracing on", "otlp_protocol", cfg.TracingProtocol)
	}
	return o, nil
}

// close flushes the spans still buffered.
func (o *ops) close() {
	if o.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.tracing.Shutdown(ctx); err != nil {
		o.log.Warn("tracing shutdown", "err", err)
	}
}

// store instruments the opened store (after cfg.WrapStore) and checks it
// for readiness.
func (o *ops) store(cfg Config, st jobs.Store) jobs.Store {
	if cfg.WrapStore != nil {
		st = cfg.WrapStore(st)
	}
	st = o.metrics.Store(st)
	o.checks = append(o.checks, readyCheck{"store", storePing(st)})
	return st
}

// storePing asks the store for a job no one has: "no such job" is an
// answer, so the store is reachable. A store that can Ping is asked that.
func storePing(st jobs.Store) func(context.Context) error {
	if p, ok := st.(pinger); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := st.Get(ctx, "00000000-0000-4000-8000-000000000000")
		if err == nil || errors.Is(err, jobs.ErrNoJob) {
			return nil
		}
		return err
	}
}

// backend checks the backend for readiness if it can be lost (the
// simulated SE cannot) and exports the upstream client's counts.
func (o *ops) backend(b server.Backend) {
	if c, ok := b.(*upstream.Client); ok {
		o.metrics.Upstream(c.Stats)
	}
	if p, ok := b.(pinger); ok {
		o.checks = append(o.checks, readyCheck{"backend", p.Ping})
	}
}

// serverConfig adds metrics and tracing to the gRPC server's config.
func (o *ops) serverConfig(sc *server.Config) {
	sc.Unary = o.metrics.UnaryInterceptors()
	sc.Stream = o.metrics.StreamInterceptors()
	if o.tracing != nil {
		sc.Options = append(sc.Options, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(o.tracing.Provider), otelgrpc.WithPropagators(o.tracing.Propagator))))
	}
}

// restHandler traces REST requests when tracing is on.
func (o *ops) restHandler(h http.Handler) http.Handler {
	if o.tracing == nil {
		return h
	}
	return otelhttp.NewHandler(h, "rest",
		otelhttp.WithTracerProvider(o.tracing.Provider), otelhttp.WithPropagators(o.tracing.Propagator))
}

// ready runs every check, records each in bcpii_ready, and returns the
// failures.
func (o *ops) ready(ctx context.Context) []string {
	var failed []string
	for _, c := range o.checks {
		seq := o.checkSeq.Add(1)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.ping(cctx)
		cancel()
		o.setReady(c.component, seq, err == nil)
		if err != nil {
			failed = append(failed, c.component+": "+err.Error())
		}
	}
	return failed
}

// setReady records in bcpii_ready the result of check seq of component,
// unless a check begun later is recorded already.
func (o *ops) setReady(component string, seq uint64, ok bool) {
	o.readyMu.Lock()
	defer o.readyMu.Unlock()
	if seq < o.readySeqs[component] {
		return
	}
	if o.readySeqs == nil {
		o.readySeqs = map[string]uint64{}
	}
	o.readySeqs[component] = seq
	o.metrics.SetReady(component, ok)
}

// watchReadiness checks readiness every interval until ctx ends, logging
// each change.
func (o *ops) watchReadiness(ctx context.Context, clk clock.Clock, interval time.Duration) {
	was := true
	for {
		failed := o.ready(ctx)
		if now := len(failed) == 0; now != was && ctx.Err() == nil {
			if now {
				o.log.Info("ready again")
			} else {
				o.log.Warn("not ready", "failed", strings.Join(failed, "; "))
			}
			was = now
		}
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// handler serves the admin listener: /metrics, /healthz (the process
// runs), /readyz (the store and the backend answer), and with pprof the
// runtime profiles.
func (o *ops) handler(pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.metrics.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failed := o.ready(r.Context()); len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintln(w, "not ready:\n"+strings.Join(failed, "\n"))
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveAdmin serves h on lis until ctx ends.
func serveAdmin(ctx context.Context, lis net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      2 * time.Minute, // a CPU profile takes 30 seconds
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
