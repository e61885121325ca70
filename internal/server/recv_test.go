package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
// none of gRPC's own text, for unary and streaming methods alike; the log
// gets a line at a bounded rate, not one per refusal.
func TestRefusedMessagesCarryHMCDetail(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a wait
	defer cancel()
	malformed := []byte{0x0a, 0xff, 0xff} // field 1, a length that runs past the end
	raw := grpc.ForceCodec(rawCodec{})

	var out []byte
	err := e.conn.Invoke(ctx, "/bcpii.v1.JobService/GetJob", malformed, &out, raw)
	checkRefusal(t, "unary malformed", err, codes.InvalidArgument, 400, 7)

	_, err = e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: strings.Repeat("x", 70<<10)})
	checkRefusal(t, "unary oversized", err, codes.ResourceExhausted, 413, 0)

	desc := &grpc.StreamDesc{StreamName: "WatchJob", ServerStreams: true}
	st, err := e.conn.NewStream(ctx, desc, "/bcpii.v1.JobService/WatchJob", raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(malformed); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseSend()
	err = st.RecvMsg(&out)
	checkRefusal(t, "stream malformed", err, codes.InvalidArgument, 400, 7)

	stream, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: strings.Repeat("x", 70<<10)})
	if err == nil {
		_, err = stream.Recv()
	}
	checkRefusal(t, "stream oversized", err, codes.ResourceExhausted, 413, 0)

	// Unknown services and methods answer as an unknown path: 404.1.
	for _, method := range []string{"/bcpii.v1.NoSuchService/Get", "/bcpii.v1.JobService/NoSuchMethod", "/bcpii.v2.JobService/GetJob"} {
		err := e.conn.Invoke(ctx, method, []byte{}, &out, raw)
		checkRefusal(t, method, err, codes.Unimplemented, 404, 1)
	}

	for range 50 {
		_ = e.conn.Invoke(ctx, "/bcpii.v1.JobService/GetJob", malformed, &out, raw)
	}
	if n := strings.Count(e.logs.String(), "request message refused"); n == 0 || n > 20 {
		t.Errorf("%d log lines for 54 refused messages, want between 1 and 20", n)
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
