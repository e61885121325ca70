package inproc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/bcpii-gateway/bcpii-gateway/internal/inproc"
)

// The behaviour suite: the same calls over the in-process channel and over
// a real gRPC server on bufconn must look the same to the caller: answers,
// errors, deadlines, cancellation, metadata both ways, streams and their
// ends, and the server's interceptors.

// service is the health service the suite calls. Check's service name
// says what it does: "" answers SERVING, "fail" fails NotFound, "slow"
// waits for the call's end. Watch sends "count-N" statuses and ends, or
// for "forever" one and then waits for the call's end.
type service struct {
	healthpb.UnimplementedHealthServer
}

func (service) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-echo", strings.Join(md.Get("x-ask"), ",")))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "after"))
	switch req.Service {
	case "fail":
		return nil, status.Error(codes.NotFound, "no such service")
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (service) Watch(req *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	if err := ss.SendHeader(metadata.Pairs("x-echo", strings.Join(md.Get("x-ask"), ","))); err != nil {
		return err
	}
	ss.SetTrailer(metadata.Pairs("x-trailer", "after"))
	if n, ok := strings.CutPrefix(req.Service, "count-"); ok {
		k, _ := strconv.Atoi(n)
		for range k {
			if err := ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	<-ss.Context().Done()
	return ss.Context().Err()
}

// calls records the methods the interceptors saw.
type calls struct {
	mu      sync.Mutex
	methods []string
}

func (c *calls) add(m string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods = append(c.methods, m)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.methods...)
}

func interceptors(c *calls) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	u := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		c.add("unary " + info.FullMethod)
		return h(ctx, req)
	}
	s := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		c.add("stream " + info.FullMethod)
		return h(srv, ss)
	}
	return []grpc.UnaryServerInterceptor{u}, []grpc.StreamServerInterceptor{s}
}

// transports are the two channels under test.
var transports = map[string]func(t *testing.T, c *calls) grpc.ClientConnInterface{
	"inproc": func(t *testing.T, c *calls) grpc.ClientConnInterface {
		u, s := interceptors(c)
		ch := inproc.New(u, s)
		healthpb.RegisterHealthServer(ch, service{})
		return ch
	},
	"bufconn": func(t *testing.T, c *calls) grpc.ClientConnInterface {
		u, s := interceptors(c)
		srv := grpc.NewServer(grpc.ChainUnaryInterceptor(u...), grpc.ChainStreamInterceptor(s...))
		healthpb.RegisterHealthServer(srv, service{})
		lis := bufconn.Listen(1 << 20)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		cc, err := grpc.NewClient("passthrough:///bufconn",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	},
}

func TestBehaviour(t *testing.T) {
	for name, open := range transports {
		t.Run(name, func(t *testing.T) {
			c := &calls{}
			client := healthpb.NewHealthClient(open(t, c))
			// Every call of the suite is bounded.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ctx = metadata.AppendToOutgoingContext(ctx, "x-ask", "please")

			t.Run("unary with metadata both ways", func(t *testing.T) {
				var header, trailer metadata.MD
				resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
				if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
					t.Fatalf("Check: %v %v", resp, err)
				}
				if got := header.Get("x-echo"); len(got) != 1 || got[0] != "please" {
					t.Errorf("header %v", header)
				}
				if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "after" {
					t.Errorf("trailer %v", trailer)
				}
			})
			t.Run("unary error", func(t *testing.T) {
				_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "fail"})
				if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such service" {
					t.Errorf("error %v", err)
				}
			})
			t.Run("deadline", func(t *testing.T) {
				dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer dcancel()
				_, err := client.Check(dctx, &healthpb.HealthCheckRequest{Service: "slow"})
				if status.Code(err) != codes.DeadlineExceeded {
					t.Errorf("past the deadline: %v", err)
				}
			})
			t.Run("cancellation", func(t *testing.T) {
				cctx, ccancel := context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, ccancel)
				_, err := client.Check(cctx, &healthpb.HealthCheckRequest{Service: "slow"})
				if status.Code(err) != codes.Canceled {
					t.Errorf("canceled: %v", err)
				}
			})
			t.Run("server stream to its end", func(t *testing.T) {
				st, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "count-3"})
				if err != nil {
					t.Fatal(err)
				}
				header, err := st.Header()
				if err != nil || len(header.Get("x-echo")) != 1 || header.Get("x-echo")[0] != "please" {
					t.Errorf("stream header %v %v", header, err)
				}
				n := 0
				for {
					_, err := st.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("Recv: %v", err)
					}
					n++
				}
				if n != 3 {
					t.Errorf("%d messages, want 3", n)
				}
				if got := st.Trailer().Get("x-trailer"); len(got) != 1 || got[0] != "after" {
					t.Errorf("stream trailer %v", st.Trailer())
				}
			})
			t.Run("server stream canceled", func(t *testing.T) {
				sctx, scancel := context.WithCancel(ctx)
				st, err := client.Watch(sctx, &healthpb.HealthCheckRequest{Service: "forever"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					t.Fatalf("first Recv: %v", err)
				}
				scancel()
				if _, err := st.Recv(); status.Code(err) != codes.Canceled {
					t.Errorf("Recv after cancel: %v", err)
				}
			})
			t.Run("unknown method", func(t *testing.T) {
				var cc grpc.ClientConnInterface = open(t, &calls{})
				err := cc.Invoke(ctx, "/nosuch.Service/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
				if status.Code(err) != codes.Unimplemented {
					t.Errorf("unknown method: %v", err)
				}
			})
			got := strings.Join(c.list(), "\n")
			for _, want := range []string{"unary /grpc.health.v1.Health/Check", "stream /grpc.health.v1.Health/Watch"} {
				if !strings.Contains(got, want) {
					t.Errorf("the interceptors did not see %s:\n%s", want, got)
				}
			}
		})
	}
}
