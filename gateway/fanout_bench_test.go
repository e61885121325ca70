package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// BenchmarkWatchFanout opens 10,000 watchers on one job in a separate
// client process, half gRPC WatchJob streams (over 10 connections) and
// half Server-Sent Events streams (each its own HTTPS connection), lets
// them go idle, completes the job, and reports how long the final status
// took to reach them (p50, p99, from the completion to the client's
// receipt), the gateway process's CPU time per delivery over that time,
// and what each idle watcher costs the gateway: heap and
// goroutine stack, measured in the gateway's process alone. Run it with
// -benchtime 1x; BCPII_FANOUT_WATCHERS sets the watchers per kind (5000),
// BCPII_FANOUT_CONNS the gRPC connections they share (10),
// BCPII_FANOUT_OVER=unix has the REST gateway reach its server over a
// stock gRPC connection on a Unix socket instead of in-process, and
// BCPII_FANOUT_CPUPROFILE / BCPII_FANOUT_CLIENT_CPUPROFILE profile the
// gateway and the client process during the delivery.
func BenchmarkWatchFanout(b *testing.B) {
	perKind := 5000
	if n, err := strconv.Atoi(os.Getenv("BCPII_FANOUT_WATCHERS")); err == nil && n > 0 {
		perKind = n
	}
	for range b.N {
		fanoutOnce(b, perKind)
	}
}

// fanoutBound bounds one run's client process.
const fanoutBound = 5 * time.Minute

func fanoutOnce(b *testing.B, perKind int) {
	goroutines := runtime.NumGoroutine()
	s, teardown := buildStack(b, os.Getenv("BCPII_FANOUT_OVER"))
	defer func() {
		teardown()
		// Let the finished streams' lingering connections close.
		s.clock.Advance(gateway.LingerClose)
		settle(goroutines)
	}()
	id := s.job(b, ownerA, "running")
	caFile := b.TempDir() + "/ca.pem"
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.https.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}

	heap0, stack0 := memNow()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"BCPII_FANOUT_CLIENT=1",
		"GOGC=off", // the load generator's own collections would count as delivery time
		"BCPII_FANOUT_GRPC="+s.grpcConn.Target(),
		"BCPII_FANOUT_HTTPS="+s.https.Listener.Addr().String(),
		"BCPII_FANOUT_CA="+caFile,
		"BCPII_FANOUT_JOB="+id,
		"BCPII_FANOUT_N="+strconv.Itoa(perKind))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Every wait below reads the client's output: a client that has not
	// finished within the bound is killed, which ends the output and
	// fails the run instead of hanging it.
	kill := time.AfterFunc(fanoutBound, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 0, 1<<20), 16<<20) // one line carries every arrival
	expect := func(prefix string) string {
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), prefix) {
			cmd.Process.Kill()
			b.Fatalf("client process: %q, want %s (%v; a client is killed after %v)", lines.Text(), prefix, lines.Err(), fanoutBound)
		}
		return strings.TrimPrefix(lines.Text(), prefix)
	}
	expect("grpc-ready")
	heap1, stack1 := memNow()
	fmt.Fprintln(stdin, "next")
	expect("sse-ready")
	heap2, stack2 := memNow()
	if path := os.Getenv("BCPII_FANOUT_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path)
	}

	var prof *os.File
	if path := os.Getenv("BCPII_FANOUT_CPUPROFILE"); path != "" {
		if prof, err = os.Create(path); err != nil {
			b.Fatal(err)
		}
		// The delivery takes a tenth of a second: the default 100 Hz
		// would give the profile a dozen samples.
		runtime.SetCPUProfileRate(2000)
		if err := pprof.StartCPUProfile(prof); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	if _, err := s.reg.Finish(context.Background(), id, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	byKind := map[byte][]time.Duration{}
	for _, f := range strings.Fields(expect("arrivals ")) {
		ns, err := strconv.ParseInt(f[1:], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Unix(0, ns).Sub(start)
		lat = append(lat, d)
		byKind[f[0]] = append(byKind[f[0]], d)
	}
	cpu := cpuTime() - cpu0
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("client process: %v", err)
	}
	if len(lat) != 2*perKind {
		b.Fatalf("%d of %d watchers got the final status", len(lat), 2*perKind)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	for kind, name := range map[byte]string{'g': "grpc", 's': "sse"} {
		l := byKind[kind]
		slices.Sort(l)
		if len(l) > 0 {
			b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, name+"-p99-ms")
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(lat)), "gateway-cpu-ns/delivery")
	b.ReportMetric(float64(heap1-heap0)/float64(perKind), "grpc-heap-B/watcher")
	b.ReportMetric(float64(stack1-stack0)/float64(perKind), "grpc-stack-B/watcher")
	b.ReportMetric(float64(heap2-heap1)/float64(perKind), "sse-heap-B/watcher")
	b.ReportMetric(float64(stack2-stack1)/float64(perKind), "sse-stack-B/watcher")
}

// settle waits (up to 10 s) until a torn-down stack's goroutines have
// gone, so that the next run's memory figures start from a quiet heap.
func settle(goroutines int) {
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		// Wall time: a goroutine's end is no event a benchmark can wait
		// on, so this polls, bounded by the deadline.
		time.Sleep(10 * time.Millisecond)
	}
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the CPU time the process (the gateway's) has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func memNow() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// fanoutClient is the benchmark's client process: it opens the gRPC
// watchers, reports, opens the SSE watchers, reports, and then prints when
// each watcher received the final status (Unix nanoseconds).
func fanoutClient() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "fanout client:", err); return 1 }
	n, _ := strconv.Atoi(os.Getenv("BCPII_FANOUT_N"))
	id := os.Getenv("BCPII_FANOUT_JOB")
	pemBytes, err := os.ReadFile(os.Getenv("BCPII_FANOUT_CA"))
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Each watcher takes the next slot when the final status reaches it;
	// the last one in tells main that the delivery is over.
	arrivals := make([]int64, 2*n)
	kinds := make([]byte, 2*n)
	var count atomic.Int64
	all := make(chan struct{})
	var wg sync.WaitGroup
	arrived := func(kind byte) {
		at := time.Now().UnixNano()
		i := count.Add(1) - 1
		arrivals[i], kinds[i] = at, kind
		if i == int64(len(arrivals))-1 {
			close(all)
		}
	}
	var conns []*grpc.ClientConn
	for range grpcConns() {
		cc, err := grpc.NewClient(os.Getenv("BCPII_FANOUT_GRPC"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fail(err)
		}
		conns = append(conns, cc)
	}
	for i := range n {
		st, err := bcpiiv1.NewJobServiceClient(conns[i%len(conns)]).WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
		if err != nil {
			return fail(err)
		}
		if _, err := st.Recv(); err != nil {
			return fail(err)
		}
		wg.Go(func() {
			for {
				m, err := st.Recv()
				if err != nil {
					return
				}
				if m.Job.Status == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
					arrived('g')
				}
			}
		})
	}
	fmt.Println("grpc-ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()

	req := "GET /api/jobs/" + id + "/events HTTP/1.1\r\nHost: gateway\r\nAccept: text/event-stream\r\n\r\n"
	var sseConns []net.Conn
	for range n {
		conn, err := tls.Dial("tcp", os.Getenv("BCPII_FANOUT_HTTPS"), tlsConf)
		if err != nil {
			return fail(err)
		}
		if _, err := conn.Write([]byte(req)); err != nil {
			return fail(err)
		}
		br := bufio.NewReaderSize(conn, 512)
		if !readUntil(br, `data: {"status":"running"}`) {
			return fail(fmt.Errorf("no first event"))
		}
		sseConns = append(sseConns, conn)
		wg.Go(func() {
			if readUntil(br, `"status":"complete"`) {
				arrived('s')
			}
		})
	}
	var prof *os.File
	if path := os.Getenv("BCPII_FANOUT_CLIENT_CPUPROFILE"); path != "" {
		if prof, err = os.Create(path); err != nil {
			return fail(err)
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fail(err)
		}
	}
	fmt.Println("sse-ready")
	delivered, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	select {
	case <-all:
	case <-delivered.Done():
		// The benchmark fails on the count; report what arrived.
	}
	got := min(count.Load(), int64(len(arrivals)))
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	var b strings.Builder
	b.WriteString("arrivals")
	for i, a := range arrivals[:got] {
		b.WriteString(" " + string(kinds[i]) + strconv.FormatInt(a, 10))
	}
	fmt.Println(b.String())
	// Connections are closed after the measurement: tearing them down is
	// the load generator's cost, not delivery.
	for _, cc := range conns {
		cc.Close()
	}
	for _, c := range sseConns {
		c.Close()
	}
	wg.Wait()
	return 0
}

func readUntil(br *bufio.Reader, want string) bool {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.Contains(line, want) {
			return true
		}
	}
}

// grpcConns is how many connections the gRPC watchers share: 10, or
// BCPII_FANOUT_CONNS.
func grpcConns() int {
	if n, err := strconv.Atoi(os.Getenv("BCPII_FANOUT_CONNS")); err == nil && n > 0 {
		return n
	}
	return 10
}
