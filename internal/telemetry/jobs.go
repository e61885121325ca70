package telemetry

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// jobStates counts jobs by state from the store's change feed. It knows
// the jobs written since the gateway started: a job of an earlier run
// counts from its next change (both backends write the jobs they left
// running when they start again, or when those end).
type jobStates struct {
	now func() time.Time

	mu   sync.Mutex
	jobs map[string]jobEntry
	n    map[jobs.Status]int
}

type jobEntry struct {
	status  jobs.Status
	created time.Time
}

var (
	jobsDesc = prometheus.NewDesc(Namespace+"_jobs", "Jobs kept, by state (those written since the gateway started).",
		[]string{"state"}, nil)
	oldestDesc = prometheus.NewDesc(Namespace+"_jobs_oldest_running_seconds",
		"Age of the oldest job that has not ended (running or cancel-pending); 0 when there is none.", nil, nil)
)

func (s *jobStates) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- oldestDesc
}

func (s *jobStates) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range []jobs.Status{jobs.Running, jobs.CancelPending, jobs.Complete, jobs.Canceled} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(s.n[st]), string(st))
	}
	var oldest time.Time
	for _, e := range s.jobs {
		if !e.status.Ended() && (oldest.IsZero() || e.created.Before(oldest)) {
			oldest = e.created
		}
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, s.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}

// ObserveJobs follows st's changes until ctx ends: jobs by state, the
// oldest job running, jobs started and ended. now tells the time the
// jobs' creation times are measured in.
func (m *Metrics) ObserveJobs(ctx context.Context, st jobs.Store, now func() time.Time) {
	s := &jobStates{now: now, jobs: make(map[string]jobEntry), n: make(map[jobs.Status]int)}
	m.reg.MustRegister(s)
	changes := st.Watch(ctx)
	go func() {
		for c := range changes {
			m.jobChanged(s, c)
		}
	}()
}

func (m *Metrics) jobChanged(s *jobStates, c jobs.Change) {
	j := c.Job
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, known := s.jobs[j.ID]
	if known {
		s.n[prev.status]--
	}
	if c.Deleted {
		delete(s.jobs, j.ID)
		return
	}
	s.jobs[j.ID] = jobEntry{status: j.Status, created: j.Created}
	s.n[j.Status]++
	op := OperationName(j.Operation)
	created := j.CreateRevision != 0 && j.CreateRevision == j.Revision
	if created || (!known && j.CreateRevision == 0 && j.Status == jobs.Running) {
		m.jobsStarted.WithLabelValues(op).Inc()
	}
	if j.Status.Ended() && (!known || !prev.status.Ended()) {
		m.jobsEnded.WithLabelValues(op, outcome(j)).Inc()
	}
}

func outcome(j jobs.Job) string {
	switch {
	case j.Status == jobs.Canceled:
		return "canceled"
	case j.StatusCode >= 200 && j.StatusCode <= 299:
		return "success"
	}
	return "failure"
}

// OperationName is the operation of a job as a label value: the kind of
// object and the action, such as "logical-partition.activate", from the
// route table; "other" for anything it does not name.
func OperationName(operation string) string {
	method, uri, ok := strings.Cut(operation, " ")
	if !ok {
		return "other"
	}
	m, err := bcpii.MatchOperation(method, uri)
	if err != nil || m.Route.Action == "" {
		return "other"
	}
	return m.Route.Kind + "." + m.Route.Action
}
