package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bcpii-gateway/bcpii-gateway/internal/upstream"
)

// Upstream exports the upstream client's request counts: requests by kind
// (logons and job polls among them) and requests that got no answer.
func (m *Metrics) Upstream(stats func() upstream.Stats) {
	m.reg.MustRegister(upstreamCollector(stats))
}

type upstreamCollector func() upstream.Stats

var (
	upstreamRequests = prometheus.NewDesc(Namespace+"_upstream_requests_total",
		"Requests sent to the upstream HMC, by kind: operation, logon, logoff, job_query (polls), job_delete, job_cancel, targets, other.",
		[]string{"kind"}, nil)
	upstreamFailures = prometheus.NewDesc(Namespace+"_upstream_failures_total",
		"Requests to the upstream HMC that got no HTTP answer (unreachable, TLS refused, timed out).", nil, nil)
	upstreamClaims = prometheus.NewDesc(Namespace+"_upstream_job_claims_total",
		"With replicas, jobs this replica came to follow: new (claimed as it accepted them) or taken_over (no replica followed them: a dead replica's).",
		[]string{"how"}, nil)
)

func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upstreamRequests
	ch <- upstreamFailures
	ch <- upstreamClaims
}

func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	kinds := []struct {
		name string
		n    int64
	}{
		{"operation", s.Operations}, {"logon", s.Logons}, {"logoff", s.Logoffs}, {"job_query", s.JobQueries},
		{"job_delete", s.JobDeletes}, {"job_cancel", s.JobCancels}, {"targets", s.Targets},
	}
	other := s.Requests
	for _, k := range kinds {
		other -= k.n
		ch <- prometheus.MustNewConstMetric(upstreamRequests, prometheus.CounterValue, float64(k.n), k.name)
	}
	ch <- prometheus.MustNewConstMetric(upstreamRequests, prometheus.CounterValue, float64(max(other, 0)), "other")
	ch <- prometheus.MustNewConstMetric(upstreamFailures, prometheus.CounterValue, float64(s.Failures))
	ch <- prometheus.MustNewConstMetric(upstreamClaims, prometheus.CounterValue, float64(s.NewClaims), "new")
	ch <- prometheus.MustNewConstMetric(upstreamClaims, prometheus.CounterValue, float64(s.TakenOver), "taken_over")
}
