// Command load drives gRPC calls at a server for a fixed time and prints
// one line: the calls per second, latency percentiles and failures.
//
//	load -addr 127.0.0.1:6795 -callers 64 -d 10s -op getjob -job ID -target NAME
//	load -addr 127.0.0.1:6795 -callers 256 -d 10s -op invoke -uris FILE
//	load -free-ports 3
//
// All callers share one connection. getjob calls JobService.GetJob for one
// job; invoke starts operations with OperationService.Invoke, taking the
// next "METHOD URI TARGET" line of -uris round robin, so that consecutive
// calls act on different objects. The server's certificate is not
// verified: the tool measures, it does not authenticate anyone.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

type config struct {
	addr, op, job, target, uris string
	callers                     int
	d, warmup                   time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:6795", "gRPC address (TLS)")
	flag.StringVar(&c.op, "op", "getjob", "getjob or invoke")
	flag.StringVar(&c.job, "job", "", "job id for getjob")
	flag.StringVar(&c.target, "target", "", "X-API-Target-Name for getjob")
	flag.StringVar(&c.uris, "uris", "", `file of "METHOD URI TARGET" lines for invoke`)
	flag.IntVar(&c.callers, "callers", 64, "concurrent callers on one connection")
	flag.DurationVar(&c.d, "d", 10*time.Second, "how long to measure")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "how long to run before measuring")
	freePorts := flag.Int("free-ports", 0, "print this many free loopback ports and exit")
	flag.Parse()
	if *freePorts > 0 {
		printFreePorts(*freePorts)
		return
	}
	call, err := newCall(c)
	if err != nil {
		log.Fatal(err)
	}
	if c.warmup > 0 {
		run(call, c.callers, c.warmup)
	}
	r := run(call, c.callers, c.d)
	fmt.Println(r)
	if r.ok == 0 {
		os.Exit(1)
	}
}

// printFreePorts prints n loopback ports that were free a moment ago.
func printFreePorts(n int) {
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
}

// newCall dials the server and returns the call each caller makes.
func newCall(c config) (func(context.Context) error, error) {
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})))
	if err != nil {
		return nil, err
	}
	switch c.op {
	case "getjob":
		jc := bcpiiv1.NewJobServiceClient(conn)
		req := &bcpiiv1.GetJobRequest{JobId: c.job}
		md := metadata.Pairs("x-api-target-name", c.target)
		return func(ctx context.Context) error {
			_, err := jc.GetJob(metadata.NewOutgoingContext(ctx, md), req)
			return err
		}, nil
	case "invoke":
		reqs, err := readURIs(c.uris)
		if err != nil {
			return nil, err
		}
		oc := bcpiiv1.NewOperationServiceClient(conn)
		var next atomic.Uint64
		return func(ctx context.Context) error {
			req := reqs[(next.Add(1)-1)%uint64(len(reqs))]
			resp, err := oc.Invoke(ctx, req)
			if err == nil && (resp.GetHttpStatus() != 202 || resp.GetJobUri() == "") {
				err = fmt.Errorf("answer %d %q", resp.GetHttpStatus(), resp.GetBody())
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown -op %q", c.op)
}

func readURIs(path string) ([]*bcpiiv1.InvokeRequest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs []*bcpiiv1.InvokeRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		reqs = append(reqs, &bcpiiv1.InvokeRequest{Method: fs[0], Uri: fs[1], TargetName: fs[2]})
	}
	if len(reqs) == 0 {
		return nil, errors.New("no requests in " + path)
	}
	return reqs, sc.Err()
}

type result struct {
	ok, failed int
	secs       float64
	p50, p99   time.Duration
	firstErr   error
}

func (r result) String() string {
	s := fmt.Sprintf("rate=%.0f calls=%d failed=%d p50=%s p99=%s", float64(r.ok)/r.secs, r.ok, r.failed,
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	if r.firstErr != nil {
		s += fmt.Sprintf(" first_error=%q", r.firstErr.Error())
	}
	return s
}

// run makes calls from callers goroutines for d and gathers the figures.
func run(call func(context.Context) error, callers int, d time.Duration) result {
	ctx := context.Background()
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, callers)
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		wg.Go(func() {
			for {
				t := time.Now()
				if !t.Before(deadline) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := call(cctx)
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{ok: len(all), failed: int(failed.Load()), secs: time.Since(start).Seconds()}
	if p := firstErr.Load(); p != nil {
		r.firstErr = *p
	}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}
