package notify_test

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// BenchmarkStompFanout connects 1,000 STOMP subscribers over TLS from a
// separate client process, all on one job topic (the local partition's),
// lets them go idle, ends a job, and reports how long its job-completion
// message took to reach them (p50, p99, from the end to the client's
// receipt) and what each idle subscriber costs the server: heap and
// goroutine stack, measured in the server's process alone. Run it with
// -benchtime 1x; BCPII_STOMP_FANOUT_N sets the subscribers.
func BenchmarkStompFanout(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("BCPII_STOMP_FANOUT_N")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		stompFanoutOnce(b, n)
	}
}

func stompFanoutOnce(b *testing.B, n int) {
	f, caFile := newTLSFixture(b)
	topic := bcpii.PartitionJobTopic(f.auth.Local.Partition())
	j, err := f.reg.Create(context.Background(), jobs.Spec{Owner: lp1Owner, Operation: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	heap0, stack0 := memNow()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BCPII_STOMP_FANOUT_CLIENT=1", "GOGC=off",
		"BCPII_STOMP_FANOUT_ADDR="+f.addr, "BCPII_STOMP_FANOUT_CA="+caFile,
		"BCPII_STOMP_FANOUT_TOPIC="+topic, "BCPII_STOMP_FANOUT_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 0, 1<<20), 16<<20)
	expect := func(prefix string) string {
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), prefix) {
			cmd.Process.Kill()
			b.Fatalf("client process: %q, want %s (%v)", lines.Text(), prefix, lines.Err())
		}
		return strings.TrimPrefix(lines.Text(), prefix)
	}
	expect("ready")
	heap1, stack1 := memNow()
	if got := f.srv.Connections(); got != n {
		b.Fatalf("%d connections, want %d", got, n)
	}
	start := time.Now()
	if _, err := f.reg.Finish(context.Background(), j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for _, s := range strings.Fields(expect("arrivals ")) {
		ns, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Unix(0, ns).Sub(start))
	}
	if len(lat) != n {
		b.Fatalf("%d arrivals, want %d", len(lat), n)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/subscriber")
	b.ReportMetric(float64(stack1-stack0)/float64(n), "stack-B/subscriber")
}

func memNow() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// newTLSFixture is newFixture serving TLS with a self-signed certificate,
// whose PEM file it returns.
func newTLSFixture(b *testing.B) (*fixture, string) {
	dir := b.TempDir()
	cert, _, err := tlsutil.LoadOrCreate(dir, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	f := newFixtureTB(b, func(l net.Listener) net.Listener {
		return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	})
	return f, dir + "/" + tlsutil.CertFile
}

// fanoutClient is the benchmark's client process: it connects and
// subscribes every subscriber, reports, and then prints when each received
// its message (Unix nanoseconds).
func fanoutClient() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "stomp fanout client:", err); return 1 }
	n, _ := strconv.Atoi(os.Getenv("BCPII_STOMP_FANOUT_N"))
	addr, topic := os.Getenv("BCPII_STOMP_FANOUT_ADDR"), os.Getenv("BCPII_STOMP_FANOUT_TOPIC")
	pemBytes, err := os.ReadFile(os.Getenv("BCPII_STOMP_FANOUT_CA"))
	if err != nil {
		return fail(err)
	}
	blk, _ := pem.Decode(pemBytes)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	arrivals := make([]int64, n)
	readers := make([]*stomp.Reader, n)
	conns := make([]net.Conn, n)
	for i := range n {
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", addr, tc)
		if err != nil {
			return fail(err)
		}
		conns[i], readers[i] = nc, stomp.NewReader(nc, stomp.Limits{})
		_ = nc.SetDeadline(time.Now().Add(waitLimit))
		frames := "CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00" +
			"SUBSCRIBE\nid:0\ndestination:/topic/" + topic + "\nreceipt:r\n\n\x00"
		if _, err := nc.Write([]byte(frames)); err != nil {
			return fail(err)
		}
		for _, want := range []string{stomp.CmdConnected, stomp.CmdReceipt} {
			if f, err := readers[i].ReadFrame(); err != nil || f.Command != want {
				return fail(fmt.Errorf("subscriber %d: %v %v, want %s", i, f, err, want))
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conns[i].SetDeadline(time.Now().Add(time.Minute))
			f, err := readers[i].ReadFrame()
			arrivals[i] = time.Now().UnixNano()
			if err != nil || f.Command != stomp.CmdMessage {
				errs <- fmt.Errorf("subscriber %d: %v %v", i, f, err)
			}
		}()
	}
	fmt.Println("ready")
	wg.Wait()
	close(errs)
	for err := range errs {
		return fail(err)
	}
	var sb strings.Builder
	sb.WriteString("arrivals")
	for _, a := range arrivals {
		sb.WriteString(" " + strconv.FormatInt(a, 10))
	}
	fmt.Println(sb.String())
	return 0
}
