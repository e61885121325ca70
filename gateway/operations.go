package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// operationRoutes are the HMC paths served by OperationService.Invoke,
// built from bcpii's route table: the listings and properties of CPCs,
// logical partitions and partitions, and the operations that start jobs.
// Query API Version is in the table too, but the gateway answers it
// itself.
func (g *Gateway) operationRoutes() []*route {
	var t routeTable
	for _, r := range bcpii.Routes() {
		if r.Kind == "" {
			continue
		}
		m := method{query: r.Query, local: g.invoke}
		if r.Method == http.MethodPost {
			m.body = backendBody
		}
		t.add(r.Pattern, r.Method, m)
	}
	return t.routes
}

// invoke passes the request to OperationService and answers with what the
// backend answered.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, body []byte, id *Identity) {
	ctx := r.Context()
	if v, ok := r.Header["X-Api-Session"]; ok {
		ctx = metadata.AppendToOutgoingContext(ctx, rpctypes.SessionKey, v[0])
	}
	resp, err := g.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{
		Method: r.Method,
		Uri:    escapeNonUTF8(r.RequestURI),
		// A name that is not UTF-8 is malformed still, and is judged so
		// in its turn.
		TargetName: strings.ToValidUTF8(r.Header.Get("X-API-Target-Name"), "\uFFFD"),
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

// escapeNonUTF8 percent-encodes the bytes of a request URI that are not
// UTF-8: a proto string cannot carry them, and encoded they mean the same
// to the backend.
func escapeNonUTF8(uri string) string {
	if utf8.ValidString(uri) {
		return uri
	}
	var b strings.Builder
	for i := 0; i < len(uri); {
		r, n := utf8.DecodeRuneInString(uri[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "%%%02X", uri[i])
		} else {
			b.WriteString(uri[i : i+n])
		}
		i += n
	}
	return b.String()
}
