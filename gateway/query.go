package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/inproc"
)

// queryJob answers Query Job Status (GET /api/jobs/{job-id}), the request
// clients poll with, by calling the service's GetJob over the in-process
// connection, through every interceptor as any call, and rendering the job
// as grpc-gateway would: the same bytes and headers, without its
// per-request context, metadata and forwarding work, which cost as much as
// the service itself (bench/README.md).
func (g *Gateway) queryJob(w http.ResponseWriter, r *http.Request, _ []byte, _ *Identity) {
	ctx := queryContext(r)
	resp, err := g.getJob(ctx, &bcpiiv1.GetJobRequest{JobId: strings.TrimPrefix(r.URL.EscapedPath(), "/api/jobs/")})
	if err != nil {
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	// The body is built in a pooled buffer, which net/http copies from
	// in Write; the request's record has room for its length.
	bp := bodies.Get().(*[]byte)
	defer bodies.Put(bp)
	var length []string
	if info := accessFrom(ctx); info != nil {
		length = info.length[:]
	} else {
		length = make([]string, 1)
	}
	b := rpctypes.AppendJob((*bp)[:0], resp.GetJob())
	*bp = b
	length[0] = strconv.Itoa(len(b))
	h := w.Header()
	h["Content-Type"], h["Content-Length"] = contentTypeValue, length
	_, _ = w.Write(b)
}

// bodies are the buffers of Query Job Status answers.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// queryContext carries the headers the service judges by as grpc-gateway
// forwards them (incomingHeader), a malformed target name escaped as
// serve escapes it for grpc-gateway.
func queryContext(r *http.Request) context.Context {
	md := make(metadata.MD, 2)
	if v, ok := r.Header["X-Api-Target-Name"]; ok {
		for i, s := range v {
			v[i] = escapeNonPrintable(s) // in place, as serve escapes it
		}
		md[rpctypes.TargetKey] = v
	}
	if v, ok := r.Header["X-Api-Session"]; ok {
		md[rpctypes.SessionKey] = v
	}
	return inproc.WithIncoming(r.Context(), md)
}

// getJob calls GetJob, through the in-process channel's Call where the
// gateway has it: the answer is read, never changed, so it need not be
// copied as a generated client copies it.
func (g *Gateway) getJob(ctx context.Context, req *bcpiiv1.GetJobRequest) (*bcpiiv1.GetJobResponse, error) {
	if g.call == nil {
		return g.jobs.GetJob(ctx, req)
	}
	resp, err := g.call(ctx, bcpiiv1.JobService_GetJob_FullMethodName, req)
	if err != nil {
		return nil, err
	}
	return resp.(*bcpiiv1.GetJobResponse), nil
}
