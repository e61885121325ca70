package gateway_test

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// countingTable counts the session reads of a real session table.
type countingTable struct {
	bcpii.SessionTable
	gets atomic.Int64
}

func (c *countingTable) Get(ctx context.Context, key bcpii.SessionKey) (bcpii.SessionRecord, bool, error) {
	c.gets.Add(1)
	return c.SessionTable.Get(ctx, key)
}

// TestOneSessionLookupPerRequest: who asks is decided once per request. A
// request with an X-API-Session reads its session once, over REST (where
// the gateway's early checks and the service share the decision) and over
// gRPC, with the session table in memory (the bbolt and memory stores) and
// in etcd.
func TestOneSessionLookupPerRequest(t *testing.T) {
	tables := map[string]func(t *testing.T) bcpii.SessionTable{
		"memory": func(*testing.T) bcpii.SessionTable { return bcpii.NewMemTable() },
		"etcd": func(t *testing.T) bcpii.SessionTable {
			srv := etcdtest.Start(t)
			st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: srv.Client(t), Prefix: "/gw/", RequestTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return st.Sessions(t.Context())
		},
	}
	for name, table := range tables {
		t.Run(name, func(t *testing.T) {
			counted := &countingTable{SessionTable: table(t)}
			users := testUsers(t)
			fc := clocktest.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			auth := &bcpii.Authenticator{Sessions: bcpii.NewSessionsIn(users, fc, 0, counted)}
			reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: fc})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reg.Close() })
			srv, err := server.New(server.Config{Registry: reg, Authenticator: auth, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Stop)
			gw, err := gateway.New(gateway.Config{Conn: srv.InProcess(), Authenticator: auth, Clock: fc})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(gw.Close)
			hs := httptest.NewUnstartedServer(gw)
			hs.Config.ErrorLog = log.New(io.Discard, "", 0)
			hs.StartTLS()
			t.Cleanup(hs.Close)
			hs.Client().Timeout = time.Minute
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t.Cleanup(cancel)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, lis) }()
			t.Cleanup(func() { srv.Stop(); <-served })
			cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cc.Close() })

			ses, err := auth.Sessions.Logon(ctx, "alice", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			alice, err := bcpii.UserPrincipal("alice")
			if err != nil {
				t.Fatal(err)
			}
			j, err := reg.Create(ctx, jobs.Spec{Owner: alice.Owner(), Cancelable: true})
			if err != nil {
				t.Fatal(err)
			}
			lookups := func(what string, do func() int, wantStatus int) {
				t.Helper()
				before := counted.gets.Load()
				if got := do(); got != wantStatus {
					t.Fatalf("%s: %d, want %d", what, got, wantStatus)
				}
				if n := counted.gets.Load() - before; n != 1 {
					t.Errorf("%s read the session %d times, want once", what, n)
				}
			}
			rest := func(method, path string) func() int {
				return func() int {
					req, _ := http.NewRequestWithContext(ctx, method, hs.URL+path, nil)
					req.Header.Set("X-API-Session", ses.ID)
					resp, err := hs.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode
				}
			}
			lookups("REST Query Job Status", rest(http.MethodGet, "/api/jobs/"+j.ID), 200)
			lookups("REST Query Job Status of no job", rest(http.MethodGet, "/api/jobs/"+jobs.NewID()), 404)
			lookups("REST Get Notification Topics", rest(http.MethodGet, gateway.NotificationTopicsPath), 200)
			lookups("REST with a bad query parameter", rest(http.MethodGet, "/api/jobs/"+j.ID+"?x=1"), 400)
			lookups("gRPC GetJob", func() int {
				mctx := metadata.AppendToOutgoingContext(ctx, rpctypes.SessionKey, ses.ID)
				if _, err := bcpiiv1.NewJobServiceClient(cc).GetJob(mctx, &bcpiiv1.GetJobRequest{JobId: j.ID}); err != nil {
					t.Fatal(err)
				}
				return 200
			}, 200)
			lookups("gRPC GetNotificationTopics", func() int {
				mctx := metadata.AppendToOutgoingContext(ctx, rpctypes.SessionKey, ses.ID)
				if _, err := bcpiiv1.NewSessionServiceClient(cc).GetNotificationTopics(mctx, &bcpiiv1.GetNotificationTopicsRequest{}); err != nil {
					t.Fatal(err)
				}
				return 200
			}, 200)
		})
	}
}
