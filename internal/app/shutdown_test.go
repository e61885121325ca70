package app_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// sseLines follows a job's Server-Sent Events stream and sends its lines;
// the channel closes when the stream ends, at the latest after waitLimit.
func sseLines(t *testing.T, g *gateway, job, target string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url(job+"/events"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Target-Name", target)
	resp, err := (&http.Client{Transport: g.restClient(t).Transport}).Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("events of %s: %v %v", job, resp, err)
	}
	out := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return out
}

// until reads lines until one has prefix, failing at the end of the
// stream or after waitLimit; it returns the lines read.
func until(t *testing.T, lines <-chan string, prefix string) []string {
	t.Helper()
	var seen []string
	timeout := time.After(waitLimit)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before %q; it said %q", prefix, seen)
			}
			seen = append(seen, l)
			if strings.HasPrefix(l, prefix) {
				return seen
			}
		case <-timeout:
			t.Fatalf("no %q within %v; the stream said %q", prefix, waitLimit, seen)
		}
	}
}

// TestGracefulShutdown: once the gateway is told to stop, it says so in
// its log at once, takes no new connections, and lets every kind of
// stream go on for the grace: a job that ends in it reaches its gRPC
// watcher, its Server-Sent Events stream (status and completion) and the
// STOMP subscription of its owner. When the grace is over, an event
// stream still running gets a shutdown event with a retry field, a STOMP
// connection an ERROR frame saying the gateway stops, and gRPC watchers
// their end; then the gateway returns.
func TestGracefulShutdown(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(inv, []byte(reasonsInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{}, 1)
	var logs syncBuffer
	h := &onMessage{Handler: slog.NewTextHandler(&logs, nil), msg: "stopping: no new connections; streams and calls in flight get their grace", seen: stopping}
	const grace = 3 * time.Second
	g := startGateway(t, slog.New(h), func(c *app.Config) {
		c.Inventory = inv
		c.ShutdownGrace = grace
	})
	rest := g.restClient(t) // the local partition, LP1
	tgt := func(name string) http.Header { return http.Header{"X-Api-Target-Name": {name}} }
	short := jobURIFromBody(t, g.rest(t, rest, "POST", "/api/logical-partitions/l2/operations/activate", tgt(lp2), ""))
	long := jobURIFromBody(t, g.rest(t, rest, "POST", "/api/partitions/p1/operations/start", tgt(part1), ""))

	shortSSE := sseLines(t, g, short, lp2)
	longSSE := sseLines(t, g, long, part1)
	until(t, shortSSE, "data: ")
	until(t, longSSE, "data: ")
	jobsc := bcpiiv1.NewJobServiceClient(g.grpcConn(t))
	watch, err := jobsc.WatchJob(withMD(t, rpctypes.TargetKey, lp2), &bcpiiv1.WatchJobRequest{JobId: jobIDFromURI(t, short)})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("first status %v, %v", first, err)
	}
	sc := g.stompDial(t)
	sc.connect()
	sc.subscribe("jobs", bcpii.PartitionJobTopic(mustTarget(t, lp1)))

	stopped := make(chan struct{})
	go func() { defer close(stopped); g.stop(t) }()
	select {
	case <-stopping:
	case <-time.After(waitLimit):
		t.Fatalf("nothing logged of the stop\n%s", logs.String())
	}
	// In the grace, the short job ends: every stream gets it.
	g.clock.Advance(3 * time.Second)
	for {
		m, err := watch.Recv()
		if err != nil {
			t.Fatalf("gRPC watcher: %v before the final status", err)
		}
		if m.GetJob().GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
			break
		}
	}
	until(t, shortSSE, "event: job-completion")
	sc.Expect(stomp.CmdMessage, "job-uri", short, "notification-type", "job-completion")

	// When the grace is over, the long job's stream is told to reconnect
	// and the STOMP connection that the gateway stops.
	lines := until(t, longSSE, "event: shutdown")
	rest2 := until(t, longSSE, "data: ")
	if !strings.Contains(strings.Join(append(lines, rest2...), "\n"), "retry: 1000") || strings.Contains(strings.Join(rest2, "\n"), "id:") {
		t.Errorf("shutdown event %q %q: want a retry field and no id", lines, rest2)
	}
	sc.Expect(stomp.CmdError, "message", "Gateway stopping")
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("the gateway did not return after the grace")
	}
	for l := range longSSE {
		if l != "" {
			t.Errorf("after the shutdown event: %q", l)
		}
	}
	if _, err := watch.Recv(); !errors.Is(err, io.EOF) && err == nil {
		t.Errorf("the gRPC watch goes on after the stop")
	}
}

// TestClientHangUp: an event stream whose client goes away ends its call
// as the client's doing: never counted as an HMC 503, over gRPC or REST.
func TestClientHangUp(t *testing.T) {
	g := startGateway(t, nil, withAdmin)
	rest := g.restClient(t)
	objs := g.discover(t, rest, nil)
	job := jobURIFromBody(t, g.rest(t, rest, "POST", objs["LP2"].uri+"/operations/activate", http.Header{"X-Api-Target-Name": {lp2}}, ""))
	watchEnds := func(s samples) float64 {
		var n float64
		for k, v := range s {
			if strings.HasPrefix(k, "grpc_server_handled_total{") && strings.Contains(k, `grpc_method="WatchJob"`) && strings.Contains(k, `interface="rest"`) {
				n += v
			}
		}
		return n
	}
	errors503 := func(s samples) float64 {
		var n float64
		for k, v := range s {
			if (strings.HasPrefix(k, "bcpii_grpc_hmc_errors_total{") || strings.HasPrefix(k, "bcpii_rest_requests_total{")) &&
				(strings.Contains(k, `http_status="503"`) || strings.Contains(k, `status="503"`)) {
				n += v
			}
		}
		return n
	}
	before := g.scrape(t)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url(job+"/events"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Target-Name", lp2)
	resp, err := (&http.Client{Transport: rest.Transport}).Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", resp, err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel() // the client hangs up
	resp.Body.Close()
	// The gateway learns of it when a heartbeat finds the connection
	// closed.
	after := g.scrapeUntil(t, func(s samples) bool {
		g.clock.Advance(15 * time.Second)
		return watchEnds(s) > watchEnds(before)
	})
	if watchEnds(after) <= watchEnds(before) {
		t.Fatal("the stream of the client that hung up did not end")
	}
	if errors503(after) != errors503(before) {
		t.Errorf("a hang-up was counted as an HMC 503: %v, then %v", errors503(before), errors503(after))
	}
}
