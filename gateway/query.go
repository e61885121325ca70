package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// queryJob answers Query Job Status (GET /api/jobs/{job-id}), the request
// clients poll with, by calling the service's GetJob over the in-process
// connection, through every interceptor as any call, and rendering the job
// as grpc-gateway would: the same bytes and headers, without its
// per-request context, metadata and forwarding work, which cost as much as
// the service itself (bench/README.md).
func (g *Gateway) queryJob(w http.ResponseWriter, r *http.Request, _ []byte, _ *Identity) {
	ctx := queryContext(r)
	resp, err := g.jobs.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: strings.TrimPrefix(r.URL.EscapedPath(), "/api/jobs/")})
	if err != nil {
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	b := rpctypes.AppendJob(make([]byte, 0, 128), resp.GetJob())
	h := w.Header()
	h["Content-Type"], h["Content-Length"] = contentTypeValue, []string{strconv.Itoa(len(b))}
	_, _ = w.Write(b)
}

// queryContext carries the headers the service judges by as grpc-gateway
// forwards them (incomingHeader), a malformed target name escaped as
// serve escapes it for grpc-gateway.
func queryContext(r *http.Request) context.Context {
	md := make(metadata.MD, 2)
	if v, ok := r.Header["X-Api-Target-Name"]; ok {
		vs := make([]string, len(v))
		for i, s := range v {
			vs[i] = escapeNonPrintable(s)
		}
		md[rpctypes.TargetKey] = vs
	}
	if v, ok := r.Header["X-Api-Session"]; ok {
		md[rpctypes.SessionKey] = v
	}
	return metadata.NewOutgoingContext(r.Context(), md)
}
