package gateway

import (
	"net/http"
	"strconv"

	"google.golang.org/grpc/metadata"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// operationRoutes are the HMC paths served by OperationService.Invoke:
// the listings and properties of CPCs, logical partitions and partitions,
// and the operations that start jobs.
func (g *Gateway) operationRoutes() []*route {
	list := map[string]method{http.MethodGet: {query: []string{"name"}, local: g.invoke}}
	get := map[string]method{http.MethodGet: {local: g.invoke}}
	op := map[string]method{http.MethodPost: {body: backendBody, local: g.invoke}}
	routes := []*route{
		newRoute("/api/cpcs", list),
		newRoute("/api/cpcs/{id}", get),
		newRoute("/api/cpcs/{id}/logical-partitions", list),
		newRoute("/api/cpcs/{id}/partitions", list),
		newRoute("/api/logical-partitions/{id}", get),
		newRoute("/api/partitions/{id}", get),
	}
	for _, name := range []string{"activate", "deactivate", "load"} {
		routes = append(routes, newRoute("/api/logical-partitions/{id}/operations/"+name, op))
	}
	for _, name := range []string{"start", "stop"} {
		routes = append(routes,
			newRoute("/api/partitions/{id}/operations/"+name, op),
			newRoute("/api/cpcs/{id}/operations/"+name, op))
	}
	return routes
}

// invoke passes the request to OperationService and answers with what the
// backend answered.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, body []byte, id *Identity) {
	ctx := r.Context()
	if id != nil {
		ctx = metadata.AppendToOutgoingContext(ctx, server.PrincipalMetadataKey, server.ForwardedPrincipal(id.Principal))
	}
	resp, err := g.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{
		Method:     r.Method,
		Uri:        r.RequestURI,
		TargetName: r.Header.Get("X-API-Target-Name"),
		Body:       string(body),
	})
	if err != nil {
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	h := w.Header()
	if resp.Body != "" {
		h.Set("Content-Type", ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	if resp.HttpStatus == http.StatusNoContent {
		h.Del("Content-Length")
	}
	w.WriteHeader(int(resp.HttpStatus))
	_, _ = w.Write([]byte(resp.Body))
}
