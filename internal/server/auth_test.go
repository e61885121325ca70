package server_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// The methods a caller may use with no identity.
var unauthenticated = map[string]bool{
	"/bcpii.v1.SessionService/Logon":                                 true,
	"/bcpii.v1.SessionService/GetVersion":                            true,
	"/grpc.health.v1.Health/Check":                                   true,
	"/grpc.health.v1.Health/List":                                    true,
	"/grpc.health.v1.Health/Watch":                                   true,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
}

// Every method of every registered service, found from the server's
// service descriptions so that a new RPC is covered without editing this
// test, answers 403.4 to a caller with no identity (a TCP caller that is
// not local, with neither certificate nor session); only the methods
// above answer otherwise.
func TestEveryMethodNeedsAnIdentity(t *testing.T) {
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv, err := server.New(server.Config{Registry: reg, Authenticator: localAuth(t, partA), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() { stop(); <-served }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	methods := 0
	for name, info := range srv.Services() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			methods++
			err := call(t, conn, full, m)
			d, hasDetail := rpctypes.HMCDetail(err)
			refused := status.Code(err) == codes.Unauthenticated && hasDetail && d.HttpStatus == 403 && d.Reason == 4
			switch {
			case unauthenticated[full] && refused:
				t.Errorf("%s needs no identity, but answered 403.4", full)
			case !unauthenticated[full] && !refused:
				t.Errorf("%s with no identity: %v, want Unauthenticated 403.4", full, err)
			}
		}
	}
	if methods < 12 {
		t.Fatalf("only %d methods found: the walk does not see the services", methods)
	}
}

// call calls method with an empty request, which every request message
// accepts, and returns the call's error (nil if it answered).
func call(t *testing.T, conn *grpc.ClientConn, method string, m grpc.MethodInfo) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
	defer cancel()
	if !m.IsClientStream && !m.IsServerStream {
		return conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
	}
	desc := &grpc.StreamDesc{StreamName: method[strings.LastIndex(method, "/")+1:], ClientStreams: m.IsClientStream, ServerStreams: m.IsServerStream}
	st, err := conn.NewStream(ctx, desc, method)
	if err != nil {
		return err
	}
	if err := st.SendMsg(&emptypb.Empty{}); err != nil {
		return st.RecvMsg(&emptypb.Empty{})
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(&emptypb.Empty{})
}
