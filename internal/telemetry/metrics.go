// Package telemetry is what the gateway tells operators: its Prometheus
// metrics (requests over REST and gRPC, jobs, the store, the upstream
// HMC) and its OpenTelemetry traces. Label values come from small fixed
// sets: never a job id, a session, a user or a target name.
package telemetry

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// Namespace prefixes the gateway's own metrics.
const Namespace = "bcpii"

// Metrics are the gateway's metrics, in a registry of their own.
type Metrics struct {
	reg *prometheus.Registry
	rpc *rpcMetrics

	restRequests *prometheus.CounterVec
	restDuration *prometheus.HistogramVec
	restSeries   sync.Map // restKey → restSeries
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
	m.rpc = newRPCMetrics()
	m.restRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rest_requests_total",
		Help: "REST requests answered, by method, route pattern, HTTP status, HMC reason and kind of principal.",
	}, []string{"method", "route", "status", "reason", "principal"})
	m.restDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "rest_request_duration_seconds",
		Help:    "Time to answer a REST request (an event stream: until it took its connection over).",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
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
	m.reg.MustRegister(m.rpc.collectors()...)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.restRequests, m.restDuration,
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
	m.rpc.initialize(srv)
}

// UnaryInterceptors count and time unary calls; they run outermost, so
// they see the status the caller gets.
func (m *Metrics) UnaryInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{m.rpc.unary}
}

// StreamInterceptors are UnaryInterceptors for streams.
func (m *Metrics) StreamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{m.rpc.stream}
}

// restKey is one series of bcpii_rest_requests_total, and restSeries
// its counter and the request duration histogram of its method and
// route, looked up once.
type restKey struct {
	method, route, principal string
	status, reason           int
}

type restSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// REST counts one answered REST request. The values come from the
// gateway's fixed sets (methods, route patterns, kinds of principal).
func (m *Metrics) REST(method, route string, status, reason int, principal string, d time.Duration) {
	k := restKey{method, route, principal, status, reason}
	v, ok := m.restSeries.Load(k)
	if !ok {
		v, _ = m.restSeries.LoadOrStore(k, restSeries{
			requests: m.restRequests.WithLabelValues(method, route, strconv.Itoa(status), strconv.Itoa(reason), principal),
			duration: m.restDuration.WithLabelValues(method, route),
		})
	}
	rs := v.(restSeries)
	rs.requests.Inc()
	rs.duration.Observe(d.Seconds())
}

// SetReady records the outcome of a readiness check of component.
func (m *Metrics) SetReady(component string, ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.ready.WithLabelValues(component).Set(v)
}
