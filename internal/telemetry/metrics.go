// Package telemetry is what the gateway tells operators: its Prometheus
// metrics (requests over REST and gRPC, jobs, the store, the upstream
// HMC) and its OpenTelemetry traces. Label values come from small fixed
// sets: never a job id, a session, a user or a target name.
package telemetry

import (
	"context"
	"strconv"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// Namespace prefixes the gateway's own metrics.
const Namespace = "bcpii"

// Metrics are the gateway's metrics, in a registry of their own.
type Metrics struct {
	reg  *prometheus.Registry
	grpc *grpcprom.ServerMetrics

	restRequests *prometheus.CounterVec
	restDuration *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	hmcErrors    *prometheus.CounterVec
	storeOps     *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
	jobsStarted  *prometheus.CounterVec
	jobsEnded    *prometheus.CounterVec
	ready        *prometheus.GaugeVec
}

// New returns the metrics, registered with the Go runtime's and the
// process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.grpc = grpcprom.NewServerMetrics(
		grpcprom.WithServerHandlingTimeHistogram(),
		grpcprom.WithContextLabels("interface"),
	)
	m.restRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rest_requests_total",
		Help: "REST requests answered, by method, route pattern, HTTP status, HMC reason and kind of principal.",
	}, []string{"method", "route", "status", "reason", "principal"})
	m.restDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "rest_request_duration_seconds",
		Help:    "Time to answer a REST request (an event stream: until it took its connection over).",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "grpc_calls_in_flight",
		Help: "Calls being served, by interface and method: open watch streams and waits included.",
	}, []string{"interface", "grpc_method"})
	m.hmcErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "grpc_hmc_errors_total",
		Help: "Calls answered with an HMC error, by interface, method, HTTP status and HMC reason.",
	}, []string{"interface", "grpc_method", "http_status", "reason"})
	m.storeOps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "store_operation_duration_seconds",
		Help:    "Time of job store operations, by operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "store_errors_total",
		Help: "Job store operations that failed (not an answer such as no such job), by operation.",
	}, []string{"op"})
	m.jobsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "jobs_started_total",
		Help: "Jobs started, by operation.",
	}, []string{"operation"})
	m.jobsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "jobs_ended_total",
		Help: "Jobs ended, by operation and outcome (success, failure, canceled).",
	}, []string{"operation", "outcome"})
	m.ready = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "ready",
		Help: "1 when the component (store, backend) answered its last readiness check, else 0.",
	}, []string{"component"})
	for _, op := range storeOps {
		m.storeErrors.WithLabelValues(op) // at zero, so that rates exist before the first error
	}
	info := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info", Help: "The running build: always 1.",
		ConstLabels: prometheus.Labels{"version": info.Version, "commit": info.Commit, "goversion": info.Go},
	})
	build.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc, m.restRequests, m.restDuration, m.inFlight, m.hmcErrors,
		m.storeOps, m.storeErrors, m.jobsStarted, m.jobsEnded, m.ready, build,
	)
	return m
}

// storeOps are the op label values of the store metrics.
var storeOps = []string{"create", "get", "get_owned", "update", "delete", "list", "ended_before"}

// Registry is what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// InitializeGRPC creates the gRPC series of every method of srv at zero,
// so that rates over them exist before the first call.
func (m *Metrics) InitializeGRPC(srv interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) {
	m.grpc.InitializeMetrics(srv)
}

func interfaceLabels(ctx context.Context) prometheus.Labels {
	return prometheus.Labels{"interface": server.Interface(ctx)}
}

// UnaryInterceptors count and time unary calls; they run outermost, so
// they see the status the caller gets.
func (m *Metrics) UnaryInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		m.grpc.UnaryServerInterceptor(grpcprom.WithLabelsFromContext(interfaceLabels)),
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			done := m.begin(ctx, info.FullMethod)
			resp, err := h(ctx, req)
			done(err)
			return resp, err
		},
	}
}

// StreamInterceptors are UnaryInterceptors for streams.
func (m *Metrics) StreamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		m.grpc.StreamServerInterceptor(grpcprom.WithLabelsFromContext(interfaceLabels)),
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			done := m.begin(ss.Context(), info.FullMethod)
			err := h(srv, ss)
			done(err)
			return err
		},
	}
}

// begin counts a call in flight; the func it returns ends it, counting an
// HMC error.
func (m *Metrics) begin(ctx context.Context, method string) func(error) {
	iface := server.Interface(ctx)
	g := m.inFlight.WithLabelValues(iface, method)
	g.Inc()
	return func(err error) {
		g.Dec()
		if d, ok := rpctypes.HMCDetail(err); ok {
			m.hmcErrors.WithLabelValues(iface, method, strconv.Itoa(int(d.GetHttpStatus())), strconv.Itoa(int(d.GetReason()))).Inc()
		}
	}
}

// REST counts one answered REST request. The values come from the
// gateway's fixed sets (methods, route patterns, kinds of principal).
func (m *Metrics) REST(method, route string, status, reason int, principal string, d time.Duration) {
	m.restRequests.WithLabelValues(method, route, strconv.Itoa(status), strconv.Itoa(reason), principal).Inc()
	m.restDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// SetReady records the outcome of a readiness check of component.
func (m *Metrics) SetReady(component string, ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.ready.WithLabelValues(component).Set(v)
}
