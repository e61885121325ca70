package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/boltstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// BenchmarkGetJob measures Query Job Status over gRPC on a loopback TCP
// connection, through every interceptor, with 1 and 64 concurrent callers
// sharing one connection, on the memory, the bbolt and the etcd store (an
// etcd server embedded in the process, on loopback). Compare etcd with
// bbolt: the ratio of their medians is the cost of a linearizable etcd
// read over a local file.
func BenchmarkGetJob(b *testing.B) {
	for _, storeKind := range []string{"memory", "bbolt", "etcd"} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("store=%s/callers=%d", storeKind, callers), func(b *testing.B) {
				var st jobs.Store
				switch storeKind {
				case "memory":
					st = memstore.New()
				case "etcd":
					srv := etcdtest.Start(b)
					es, err := etcdstore.New(context.Background(), etcdstore.Config{Client: srv.Client(b), Prefix: "/bench/"})
					if err != nil {
						b.Fatal(err)
					}
					st = es
				default:
					bs, err := boltstore.Open(filepath.Join(b.TempDir(), "jobs.db"))
					if err != nil {
						b.Fatal(err)
					}
					defer bs.Close()
					st = bs
				}
				client, id, stop := benchServer(b, st)
				defer stop()
				ctx := context.Background()
				req := &bcpiiv1.GetJobRequest{JobId: id}
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				per := b.N / callers
				for c := 0; c < callers; c++ {
					n := per
					if c == 0 {
						n += b.N % callers
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < n; i++ {
							if _, err := client.GetJob(ctx, req); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

func benchServer(b *testing.B, st jobs.Store) (bcpiiv1.JobServiceClient, string, func()) {
	reg, err := jobs.New(jobs.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: partA}
	j, err := reg.Create(context.Background(), jobs.Spec{Owner: owner})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := reg.Finish(context.Background(), j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: []byte(`{"a":1}`)}); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Registry: reg, Authenticator: localAuth(b, partA), Loopback: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	return bcpiiv1.NewJobServiceClient(conn), j.ID, func() {
		conn.Close()
		cancel()
		<-served
		reg.Close()
	}
}
