package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

var crashRounds = flag.Int("crashloop.rounds", 3, "rounds of the crash-loop test (a longer run: -crashloop.rounds=30 or more)")

// crashObjects is how many DPM partitions the crash-loop inventory has:
// every round starts each once, so no start finds its object busy.
const crashObjects = 60

// crashInventory is a DPM CPC of crashObjects stopped partitions whose start
// takes opDuration and can be canceled.
func crashInventory(t *testing.T, opDuration time.Duration) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cpcs:\n  - name: CPC9\n    object-id: 00000000-0000-4000-8000-000000000000\n    target-name: IBM390PS.CPC9\n    dpm-enabled: true\n    status: operating\n    partitions:\n")
	for i := range crashObjects {
		fmt.Fprintf(&b, "      - name: P%03d\n        object-id: 00000000-0000-4000-8000-%012d\n        status: stopped\n        operations:\n          start: {duration: %s}\n",
			i, i+1, opDuration)
	}
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type crashGateway struct {
	t    *testing.T
	conn *grpc.ClientConn
	stop func() // kill -9 and reap
}

func startCrashGateway(t *testing.T, bin, data, inv string) *crashGateway {
	t.Helper()
	cmd, addr, _, _ := startGateway(t, bin, "--data-dir", data, "--inventory", inv, "--socket", "-")
	conn := dialTLS(t, addr, data)
	return &crashGateway{t: t, conn: conn, stop: func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		conn.Close()
	}}
}

// dialTLS connects to the gateway at addr, trusting the certificate it
// made in its data directory data.
func dialTLS(t *testing.T, addr, data string) *grpc.ClientConn {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(data, "tls", "gateway.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func partitionTarget(i int) string { return fmt.Sprintf("IBM390PS.CPC9.P%03d", i) }

// call is a context for one call on partition i's behalf, bounded so that
// a dead gateway fails the call rather than hangs it.
func call(i int, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d) // a bound, not a wait
	return metadata.AppendToOutgoingContext(ctx, "x-api-target-name", partitionTarget(i)), cancel
}

// burst starts every partition at once, and cancels some of the jobs as
// they are accepted (those cancels marks); it returns the accepted (202) jobs by partition. The
// gateway may be killed under it: calls then fail, and only what was
// answered 202 counts.
func (g *crashGateway) burst(cancels []bool) map[string]int {
	ops := bcpiiv1.NewOperationServiceClient(g.conn)
	jobsc := bcpiiv1.NewJobServiceClient(g.conn)
	var mu sync.Mutex
	accepted := map[string]int{}
	var wg sync.WaitGroup
	for i := range crashObjects {
		wg.Go(func() {
			ctx, cancel := call(i, 20*time.Second)
			defer cancel()
			resp, err := ops.Invoke(ctx, &bcpiiv1.InvokeRequest{
				Method: "POST", Uri: fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1),
				TargetName: partitionTarget(i),
			})
			if err != nil || resp.HttpStatus != 202 {
				return
			}
			id := strings.TrimPrefix(resp.JobUri, "/api/jobs/")
			mu.Lock()
			accepted[id] = i
			mu.Unlock()
			if cancels[i] {
				_, _ = jobsc.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
			}
		})
	}
	wg.Wait()
	return accepted
}

// The crash loop: rounds of concurrent starts (some canceled at once),
// each ended by kill -9 at a random point, some rounds killed again right
// after the restart, while the gateway settles what the last run left. After
// the last restart every job that was answered 202 is there and reaches
// an end within its operation's duration and a margin: none stays running
// or cancel-pending, none is lost. The kills land at random moments of
// wall time, which is what the test is about; every wait is bounded.
// -crashloop.rounds runs it longer.
func TestCrashLoopLeavesNoJobStuck(t *testing.T) {
	bin := buildGateway(t)
	data := filepath.Join(t.TempDir(), "data")
	const opDuration = 2 * time.Second
	inv := crashInventory(t, opDuration)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	t.Logf("rounds %d", *crashRounds)

	accepted := map[string]int{}
	for round := range *crashRounds {
		g := startCrashGateway(t, bin, data, inv)
		if round%3 == 2 {
			// Killed while it settles the earlier runs' jobs.
			g.stop()
			g = startCrashGateway(t, bin, data, inv)
		}
		cancels := make([]bool, crashObjects)
		for i := range cancels {
			cancels[i] = rng.IntN(3) == 0
		}
		done := make(chan map[string]int, 1)
		go func() { done <- g.burst(cancels) }()
		kill := time.NewTimer(time.Duration(rng.IntN(400)) * time.Millisecond) // the random point of the crash
		select {
		case <-kill.C:
		case got := <-done:
			kill.Stop()
			for id, i := range got {
				accepted[id] = i
			}
			done = nil
		}
		g.stop()
		if done != nil {
			for id, i := range <-done {
				accepted[id] = i
			}
		}
	}
	if len(accepted) == 0 {
		t.Fatal("no start was accepted in any round: the test tested nothing")
	}

	g := startCrashGateway(t, bin, data, inv)
	defer g.stop()
	jobsc := bcpiiv1.NewJobServiceClient(g.conn)
	// Every job at once: a stuck one costs the wait's timeout once, not
	// once per job.
	var stuck, missing atomic.Int64
	var wg sync.WaitGroup
	for id, i := range accepted {
		wg.Go(func() {
			ctx, cancel := call(i, opDuration+30*time.Second)
			defer cancel()
			resp, err := jobsc.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(opDuration + 20*time.Second)})
			switch {
			case status.Code(err) == codes.NotFound:
				missing.Add(1)
				t.Errorf("job %s (P%03d) was answered 202 and is gone", id, i)
			case err != nil:
				t.Errorf("job %s: %v", id, err)
			case resp.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE && resp.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_CANCELED:
				stuck.Add(1)
				t.Errorf("job %s (P%03d) is still %v", id, i, resp.Job.Status)
			}
		})
	}
	wg.Wait()
	t.Logf("rounds %d, jobs accepted %d, stuck %d, missing %d", *crashRounds, len(accepted), stuck.Load(), missing.Load())
}
