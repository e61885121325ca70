package telemetry

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// rpcMetrics are the series of gRPC calls: the grpc_server_* families
// with the names, labels and help of go-grpc-middleware's Prometheus
// provider, which dashboards know, with an interface label ("grpc", or
// "rest" for the calls the REST gateway makes in-process), and the
// gateway's calls in flight and HMC errors. A call looks up the series
// of its method and interface once, in one map, instead of hashing label
// values for each of six series: those lookups cost a Query Job Status
// about 4 µs, more than its store read (bench/run.sh profile).
type rpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	handling                         *prometheus.HistogramVec
	inFlight                         *prometheus.GaugeVec
	hmcErrors                        *prometheus.CounterVec

	series sync.Map // rpcKey → *rpcSeries
}

type rpcKey struct{ method, iface string }

// rpcSeries are one method's series on one interface.
type rpcSeries struct {
	m                       *rpcMetrics
	labels                  []string // grpc_type, grpc_service, grpc_method, interface
	started, received, sent prometheus.Counter
	handling                prometheus.Observer
	inFlight                prometheus.Gauge
	handled                 [codes.Unauthenticated + 1]atomic.Pointer[prometheus.Counter]
	method                  string // the full method, of bcpii_grpc_hmc_errors_total
}

func newRPCMetrics() *rpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method", "interface"}
	withCode := []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code", "interface"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return &rpcMetrics{
		started: counter("grpc_server_started_total", "Total number of RPCs started on the server.", labels),
		handled: counter("grpc_server_handled_total",
			"Total number of RPCs completed on the server, regardless of success or failure.", withCode),
		received: counter("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", labels),
		sent:     counter("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "grpc_calls_in_flight",
			Help: "Calls being served, by interface and method: open watch streams and waits included.",
		}, []string{"interface", "grpc_method"}),
		hmcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "grpc_hmc_errors_total",
			Help: "Calls answered with an HMC error, by interface, method, HTTP status and HMC reason.",
		}, []string{"interface", "grpc_method", "http_status", "reason"}),
	}
}

func (m *rpcMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.started, m.handled, m.received, m.sent, m.handling, m.inFlight, m.hmcErrors}
}

// callType is the grpc_type label of a method.
func callType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}

// of returns the series of method on iface, creating them the first time.
func (m *rpcMetrics) of(method, iface, typ string) *rpcSeries {
	k := rpcKey{method, iface}
	if s, ok := m.series.Load(k); ok {
		return s.(*rpcSeries)
	}
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	labels := []string{typ, service, name, iface}
	s := &rpcSeries{m: m, labels: labels, method: method,
		started:  m.started.WithLabelValues(labels...),
		received: m.received.WithLabelValues(labels...),
		sent:     m.sent.WithLabelValues(labels...),
		handling: m.handling.WithLabelValues(labels...),
		inFlight: m.inFlight.WithLabelValues(iface, method),
	}
	actual, _ := m.series.LoadOrStore(k, s)
	return actual.(*rpcSeries)
}

// code returns the handled counter of code c.
func (s *rpcSeries) code(c codes.Code) prometheus.Counter {
	known := c < codes.Code(len(s.handled))
	if known {
		if p := s.handled[c].Load(); p != nil {
			return *p
		}
	}
	l := s.labels
	ctr := s.m.handled.WithLabelValues(l[0], l[1], l[2], c.String(), l[3])
	if known {
		s.handled[c].Store(&ctr)
	}
	return ctr
}

// done counts the end of a call that began at start.
func (s *rpcSeries) done(start time.Time, err error) {
	s.inFlight.Dec()
	s.code(status.Code(err)).Inc()
	s.handling.Observe(time.Since(start).Seconds())
	// A call the client canceled (it hung up) is counted by its code,
	// Canceled, and is no HMC error.
	if d, ok := rpctypes.HMCDetail(err); ok && status.Code(err) != codes.Canceled {
		s.m.hmcErrors.WithLabelValues(s.labels[3], s.method, strconv.Itoa(int(d.GetHttpStatus())), strconv.Itoa(int(d.GetReason()))).Inc()
	}
}

// initialize creates the series of every method of srv at zero, on both
// interfaces a call may arrive by (gRPC, and REST through the in-process
// connection), so that rates over them exist before the first call.
func (m *rpcMetrics) initialize(srv interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) {
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			for _, iface := range []string{"grpc", "rest"} {
				s := m.of("/"+service+"/"+mi.Name, iface, callType(mi.IsClientStream, mi.IsServerStream))
				for c := codes.OK; c <= codes.Unauthenticated; c++ {
					s.code(c)
				}
			}
		}
	}
}

func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	s := m.of(info.FullMethod, server.Interface(ctx), "unary")
	s.started.Inc()
	s.inFlight.Inc()
	s.received.Inc()
	resp, err := h(ctx, req)
	if err == nil {
		s.sent.Inc()
	}
	s.done(start, err)
	return resp, err
}

func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	s := m.of(info.FullMethod, server.Interface(ss.Context()), callType(info.IsClientStream, info.IsServerStream))
	s.started.Inc()
	s.inFlight.Inc()
	err := h(srv, countedStream{ss, s})
	s.done(start, err)
	return err
}

// countedStream counts the messages a stream receives and sends.
type countedStream struct {
	grpc.ServerStream
	s *rpcSeries
}

func (c countedStream) SendMsg(m any) error {
	err := c.ServerStream.SendMsg(m)
	if err == nil {
		c.s.sent.Inc()
	}
	return err
}

func (c countedStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err == nil {
		c.s.received.Inc()
	}
	return err
}
