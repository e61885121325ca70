package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func withAdmin(c *app.Config) { c.AdminAddr = "127.0.0.1:0" }

// admin sends GET path to the admin listener and returns the status and
// body.
func (g *gateway) admin(t *testing.T, path string) (int, string) {
	t.Helper()
	if g.addrs.Admin == "" {
		t.Fatal("the gateway has no admin listener")
	}
	c := &http.Client{Timeout: waitLimit}
	resp, err := c.Get("http://" + g.addrs.Admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics: every sample by its name and sorted labels.
type samples map[string]float64

func (g *gateway) scrape(t *testing.T) samples {
	t.Helper()
	code, body := g.admin(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := samples{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			out[sampleKey(name, m.GetLabel())] = value(f.GetType(), m)
		}
	}
	return out
}

// scrapeUntil scrapes until done holds of what it read, for at most
// waitLimit.
func (g *gateway) scrapeUntil(t *testing.T, done func(samples) bool) samples {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		s := g.scrape(t)
		if done(s) || ctx.Err() != nil {
			return s
		}
		runtime.Gosched()
	}
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// sampleKey is name{k="v",...} with the labels in the order the
// exposition sorts them.
func sampleKey(name string, labels []*dto.LabelPair) string {
	var b strings.Builder
	b.WriteString(name + "{")
	for i, l := range labels {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
	}
	return b.String() + "}"
}

// TestMetricsAndAccessLog drives a REST and a gRPC request, a refusal on
// each interface and a job to its end, then checks that the named series
// moved by what was done, and that the JSON access log has a line for
// each REST request with the id its answer carried.
func TestMetricsAndAccessLog(t *testing.T) {
	var logs apptest.LogBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	users := writeUsers(t, map[string]string{"alice": "alice-secret-pw"})
	g := startGateway(t, log, withAdmin, func(c *app.Config) { c.UsersFile = users })
	rest := g.restClient(t)
	conn := g.grpcConn(t)
	jobsc := bcpiiv1.NewJobServiceClient(conn)
	objs := g.discover(t, rest, nil)
	before := g.scrape(t)

	version := g.rest(t, rest, http.MethodGet, "/api/version", nil, "")
	if version.status != http.StatusOK {
		t.Fatalf("GET /api/version: %d %s", version.status, version.body)
	}
	missing := g.rest(t, rest, http.MethodGet, "/api/jobs/"+jobs.NewID(), http.Header{"X-Api-Target-Name": {lp1}}, "")
	wantRESTError(t, missing, 404, 1)
	if _, err := bcpiiv1.NewSessionServiceClient(conn).GetVersion(withMD(t), &bcpiiv1.GetVersionRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := jobsc.GetJob(withMD(t, rpctypes.TargetKey, lp1), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
	wantGRPCError(t, err, 5 /* NotFound */, 404, 1)
	started := g.rest(t, rest, http.MethodPost, objs["LP1"].uri+"/operations/activate", http.Header{"X-Api-Target-Name": {lp1}}, `{"force":true}`)
	g.wantJobEnds(t, jobsc, jobIDFromURI(t, jobURIFromBody(t, started)), 200)
	// A watch of an ended job: one status, then the end of the stream.
	watch, err := jobsc.WatchJob(withMD(t, rpctypes.TargetKey, lp1), &bcpiiv1.WatchJobRequest{JobId: jobIDFromURI(t, jobURIFromBody(t, started))})
	if err != nil {
		t.Fatal(err)
	}
	statuses := 0
	for {
		if _, err := watch.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("WatchJob: %v", err)
		}
		statuses++
	}
	if statuses != 1 {
		t.Fatalf("WatchJob of an ended job sent %d statuses, want 1", statuses)
	}
	logon := g.rest(t, rest, http.MethodPost, "/api/sessions", nil, `{"userid":"alice","password":"alice-secret-pw"}`)
	session := jsonField(t, logon.body, "api-session")
	asUser := g.rest(t, rest, http.MethodGet, "/api/jobs/"+jobs.NewID(), http.Header{"X-Api-Session": {session}}, "")
	wantRESTError(t, asUser, 404, 1)
	if code, body := g.admin(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	// The access hook runs once the answer is sent, and the job counts
	// follow the store's change feed: both may trail the answers a little.
	userMissing := `bcpii_rest_requests_total{method="GET",principal="user",reason="1",route="/api/jobs/{job-id}",status="404"}`
	ended := `bcpii_jobs_ended_total{operation="logical-partition.activate",outcome="success"}`
	after := g.scrapeUntil(t, func(s samples) bool { return s[userMissing] > before[userMissing] && s[ended] > before[ended] })

	const activate = "/api/logical-partitions/{id}/operations/activate"
	for key, want := range map[string]float64{
		`bcpii_rest_requests_total{method="GET",principal="partition",reason="0",route="/api/version",status="200"}`:                                     1,
		`bcpii_rest_requests_total{method="GET",principal="partition",reason="1",route="/api/jobs/{job-id}",status="404"}`:                               1,
		`bcpii_rest_requests_total{method="GET",principal="user",reason="1",route="/api/jobs/{job-id}",status="404"}`:                                    1,
		`bcpii_rest_requests_total{method="POST",principal="partition",reason="0",route="` + activate + `",status="202"}`:                                1,
		`bcpii_rest_request_duration_seconds{method="GET",route="/api/version"}`:                                                                         1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="grpc"}`:   1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="rest"}`:   1,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetJob",grpc_service="bcpii.v1.JobService",grpc_type="unary",interface="grpc"}`:     1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Invoke",grpc_service="bcpii.v1.OperationService",grpc_type="unary",interface="rest"}`:     1,
		`grpc_server_started_total{grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="grpc"}`:                  1,
		`grpc_server_msg_received_total{grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="grpc"}`:             1,
		`grpc_server_msg_sent_total{grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="grpc"}`:                 1,
		`grpc_server_handling_seconds{grpc_method="GetVersion",grpc_service="bcpii.v1.SessionService",grpc_type="unary",interface="grpc"}`:               1,
		`grpc_server_started_total{grpc_method="GetJob",grpc_service="bcpii.v1.JobService",grpc_type="unary",interface="grpc"}`:                          1,
		`grpc_server_msg_sent_total{grpc_method="GetJob",grpc_service="bcpii.v1.JobService",grpc_type="unary",interface="grpc"}`:                         0,
		`grpc_server_started_total{grpc_method="GetJob",grpc_service="bcpii.v1.JobService",grpc_type="unary",interface="rest"}`:                          2,
		`grpc_server_started_total{grpc_method="WatchJob",grpc_service="bcpii.v1.JobService",grpc_type="server_stream",interface="grpc"}`:                1,
		`grpc_server_msg_received_total{grpc_method="WatchJob",grpc_service="bcpii.v1.JobService",grpc_type="server_stream",interface="grpc"}`:           1,
		`grpc_server_msg_sent_total{grpc_method="WatchJob",grpc_service="bcpii.v1.JobService",grpc_type="server_stream",interface="grpc"}`:               float64(statuses),
		`grpc_server_handled_total{grpc_code="OK",grpc_method="WatchJob",grpc_service="bcpii.v1.JobService",grpc_type="server_stream",interface="grpc"}`: 1,
		`bcpii_grpc_hmc_errors_total{grpc_method="/bcpii.v1.JobService/GetJob",http_status="404",interface="grpc",reason="1"}`:                           1,
		`bcpii_grpc_hmc_errors_total{grpc_method="/bcpii.v1.JobService/GetJob",http_status="404",interface="rest",reason="1"}`:                           2,
		`bcpii_jobs_started_total{operation="logical-partition.activate"}`:                                                                               1,
		`bcpii_jobs_ended_total{operation="logical-partition.activate",outcome="success"}`:                                                               1,
		`bcpii_jobs{state="complete"}`: 1,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{
		`bcpii_store_operation_duration_seconds{op="create"}`,
		`bcpii_store_operation_duration_seconds{op="update"}`,
		`bcpii_store_operation_duration_seconds{op="get_owned"}`,
	} {
		if after[key] <= before[key] {
			t.Errorf("%s did not move: %v, then %v", key, before[key], after[key])
		}
	}
	for key, want := range map[string]float64{
		`bcpii_ready{component="store"}`: 1,
		`bcpii_grpc_calls_in_flight{grpc_method="/bcpii.v1.JobService/WaitJob",interface="grpc"}`: 0,
		`bcpii_jobs{state="running"}`:         0,
		`bcpii_jobs_oldest_running_seconds{}`: 0,
	} {
		if got, ok := after[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	for key := range after {
		if strings.Contains(key, lp1) || strings.Contains(key, "alice") || strings.Contains(key, objs["LP1"].uri) {
			t.Errorf("series %s names a target, a user or an object", key)
		}
		if strings.Contains(key, `interface=""`) {
			t.Errorf("series %s has no interface", key)
		}
	}
	checkAccessLog(t, logs.String(), version, missing, started, asUser)
	for _, name := range deployMetricNames(t) {
		if !strings.HasPrefix(name, "bcpii_upstream_") && !hasFamily(after, name) {
			t.Errorf("deploy/ uses %s, which the gateway does not serve", name)
		}
	}
	for _, secret := range []string{"alice-secret-pw", session} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
}

type accessLine struct {
	Msg       string `json:"msg"`
	Level     string `json:"level"`
	Method    string `json:"method"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	Reason    int    `json:"reason"`
	Principal string `json:"principal"`
	RequestID string `json:"request_id"`
	Duration  *int64 `json:"duration"`
	RPC       string `json:"rpc"`
	Code      string `json:"code"`
}

// checkAccessLog finds, for each answer, the one "rest" line with its
// X-Request-Id, which names the call it made to the service (rpc, code),
// and no "rpc" line of that call: a request logs one line.
func checkAccessLog(t *testing.T, logs string, answers ...answer) {
	t.Helper()
	byID := map[string][]accessLine{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l accessLine
		if err := json.Unmarshal(sc.Bytes(), &struct {
			Msg       *string `json:"msg"`
			RequestID *string `json:"request_id"`
		}{&l.Msg, &l.RequestID}); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if l.Msg == "rest" {
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("access line %q: %v", sc.Text(), err)
			}
		}
		byID[l.RequestID] = append(byID[l.RequestID], l)
	}
	want := []struct {
		method, route, principal string
		status, reason           int
		rpc, code                string // the call the request made to the service
	}{
		{"GET", "/api/version", "partition", 200, 0, "/bcpii.v1.SessionService/GetVersion", "OK"},
		{"GET", "/api/jobs/{job-id}", "partition", 404, 1, "/bcpii.v1.JobService/GetJob", "NotFound"},
		{"POST", "/api/logical-partitions/{id}/operations/activate", "partition", 202, 0, "/bcpii.v1.OperationService/Invoke", "OK"},
		{"GET", "/api/jobs/{job-id}", "user", 404, 1, "/bcpii.v1.JobService/GetJob", "NotFound"},
	}
	for i, a := range answers {
		id := a.header.Get("X-Request-Id")
		var rest, rpc int
		for _, l := range byID[id] {
			switch l.Msg {
			case "rest":
				rest++
				w := want[i]
				if l.Method != w.method || l.Route != w.route || l.Status != w.status || l.Reason != w.reason ||
					l.Principal != w.principal || l.Duration == nil || l.Level != "INFO" || l.RPC != w.rpc || l.Code != w.code {
					t.Errorf("access line %+v, want %+v", l, w)
				}
			case "rpc":
				rpc++
			}
		}
		if rest != 1 || rpc != 0 {
			t.Errorf("request %s (%s %s): %d access lines and %d rpc lines:\n%v", id, want[i].method, want[i].route, rest, rpc, byID[id])
		}
	}
}

// deployMetricNames are the metric names the dashboard and the alert
// rules use.
func deployMetricNames(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`\b(bcpii_[a-z_]+|grpc_server_[a-z_]+)\b`)
	seen := map[string]bool{}
	for _, f := range []string{"../../deploy/grafana/bcpii-gateway.json", "../../deploy/prometheus/alerts.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				m = strings.TrimSuffix(m, suffix)
			}
			seen[m] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("deploy/ names only %d metrics: %v", len(seen), seen)
	}
	return slices.Sorted(maps.Keys(seen))
}

func hasFamily(s samples, name string) bool {
	for key := range s {
		if strings.HasPrefix(key, name+"{") {
			return true
		}
	}
	return false
}
