package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// rawCodec sends bytes as they are, under the proto codec's name, so that a
// test can send what no proto library would write.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// A request message that does not parse answers InvalidArgument 400.7 and
// one over the limit ResourceExhausted 413.0, both with the HMC detail and
// none of gRPC's own text, for unary and streaming methods alike, whatever
// compressed or not (up to 1 MiB: above, gRPC's transport answers, recv.go);
// the log gets a line at a bounded rate, not one per
// refusal.
func TestRefusedMessagesCarryHMCDetail(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a wait
	defer cancel()
	malformed := []byte{0x0a, 0xff, 0xff} // field 1, a length that runs past the end
	raw := grpc.ForceCodec(rawCodec{})
	gz := grpc.UseCompressor(gzip.Name)
	id := func(n int) string { return strings.Repeat("x", n) }
	var out []byte

	unary := func(jobID string, opts ...grpc.CallOption) error {
		_, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: jobID}, opts...)
		return err
	}
	watch := func(jobID string, opts ...grpc.CallOption) error {
		stream, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: jobID}, opts...)
		if err == nil {
			_, err = stream.Recv()
		}
		return err
	}
	// rawStream sends msg on a server stream of method and returns its end.
	rawStream := func(method string, msg []byte) error {
		desc := &grpc.StreamDesc{StreamName: method, ServerStreams: true}
		st, err := e.conn.NewStream(ctx, desc, method, raw)
		if err != nil {
			return err
		}
		if err := st.SendMsg(msg); err != nil {
			return err
		}
		_ = st.CloseSend()
		return st.RecvMsg(&out)
	}
	for _, c := range []struct {
		what   string
		call   func() error
		code   codes.Code
		status int32
		reason int32
	}{
		{"unary malformed", func() error {
			return e.conn.Invoke(ctx, "/bcpii.v1.JobService/GetJob", malformed, &out, raw)
		}, codes.InvalidArgument, 400, 7},
		{"unary just under the limit", func() error { return unary(id(60 << 10)) }, codes.NotFound, 404, 1},
		{"unary oversized", func() error { return unary(id(70 << 10)) }, codes.ResourceExhausted, 413, 0},
		{"unary oversized, compressed", func() error { return unary(id(70<<10), gz) }, codes.ResourceExhausted, 413, 0},
		{"stream malformed", func() error { return rawStream("/bcpii.v1.JobService/WatchJob", malformed) }, codes.InvalidArgument, 400, 7},
		{"stream oversized", func() error { return watch(id(70 << 10)) }, codes.ResourceExhausted, 413, 0},
		{"stream oversized, compressed", func() error { return watch(id(70<<10), gz) }, codes.ResourceExhausted, 413, 0},
		// Unknown services and methods answer as an unknown path: 404.1.
		{"unknown service", func() error {
			return e.conn.Invoke(ctx, "/bcpii.v1.NoSuchService/Get", []byte{}, &out, raw)
		}, codes.Unimplemented, 404, 1},
		{"unknown method", func() error {
			return e.conn.Invoke(ctx, "/bcpii.v1.JobService/NoSuchMethod", []byte{}, &out, raw)
		}, codes.Unimplemented, 404, 1},
		{"unknown version", func() error {
			return e.conn.Invoke(ctx, "/bcpii.v2.JobService/GetJob", []byte{}, &out, raw)
		}, codes.Unimplemented, 404, 1},
	} {
		checkRefusal(t, c.what, c.call(), c.code, c.status, c.reason)
	}

	for range 50 {
		_ = e.conn.Invoke(ctx, "/bcpii.v1.JobService/GetJob", malformed, &out, raw)
	}
	if n := strings.Count(e.logs.String(), "request message refused"); n == 0 || n > 20 {
		t.Errorf("%d log lines for 59 refused messages, want between 1 and 20", n)
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("refused messages logged as errors:\n%s", e.logs.String())
	}
}

func checkRefusal(t *testing.T, what string, err error, code codes.Code, httpStatus, reason int32) {
	t.Helper()
	wantHMC(t, err, code, httpStatus, reason)
	if msg := status.Convert(err).Message(); strings.Contains(msg, "grpc") || strings.Contains(msg, "proto") {
		t.Errorf("%s: gRPC's own text reached the caller: %q", what, msg)
	}
}
