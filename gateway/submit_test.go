package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// FuzzParseSubmit reads arbitrary Submit Requests bodies: it never panics,
// refuses with the HMC's 400.7 only, and what it takes is runnable: a
// method Submit Requests allows, a path of the gateway's own, no nested
// Submit Requests or event stream, a body only for POST, no header the
// gateway sets itself, and between 1 and the limit of sub-requests and
// threads.
func FuzzParseSubmit(f *testing.F) {
	for _, s := range []string{
		`{"requests":[{"method":"GET","uri":"/api/cpcs/c1","id":"1"}],"threads":1}`,
		`{"requests":[{"method":"POST","uri":"/api/partitions/p/operations/stop","body":{"force":true},"req-headers":[{"name":"X-API-Target-Name","value":"A.B.C"}]}]}`,
		`{"requests":[{"method":"DELETE","uri":"/api/jobs/x"}],"req-headers":[{"name":"X-Api-Session"}]}`,
		`{"requests":[{"method":"GET","uri":"/api/services/aggregation/submit"}]}`,
		`{"requests":[{"method":"GET","uri":"/api/jobs/x/events"}],"threads":0}`,
		`{"requests":[{"method":"PUT","uri":"/api/cpcs"}]}`,
		`{"requests":[]}`, `[]`, `{"requests":[1]}`, `{"requests":[{"uri":"//x/y"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		subs, threads, err := parseSubmit(body)
		if err != nil {
			if e := hmcerr.As(err); e.HTTPStatus != 400 || e.Reason != 7 {
				t.Fatalf("refused with %d.%d: %v", e.HTTPStatus, e.Reason, err)
			}
			return
		}
		if len(subs) == 0 || len(subs) > MaxSubmitRequests || threads < 1 || threads > MaxSubmitThreads {
			t.Fatalf("%d sub-requests on %d threads taken", len(subs), threads)
		}
		for _, s := range subs {
			switch s.sub.Method {
			case http.MethodGet, http.MethodDelete:
				if len(s.sub.Body) > 0 {
					t.Fatalf("a body taken for %s", s.sub.Method)
				}
			case http.MethodPost:
			default:
				t.Fatalf("method %q taken", s.sub.Method)
			}
			if u, err := url.ParseRequestURI(s.sub.URI); err != nil || u.Host != "" || !strings.HasPrefix(s.sub.URI, "/") {
				t.Fatalf("URI %q taken", s.sub.URI)
			}
			if strings.HasPrefix(s.sub.URI, SubmitPath) && (len(s.sub.URI) == len(SubmitPath) || s.sub.URI[len(SubmitPath)] == '?') {
				t.Fatalf("nested Submit Requests %q taken", s.sub.URI)
			}
			for k := range s.header {
				if fixedHeaders[k] {
					t.Fatalf("header %s taken", k)
				}
			}
		}
	})
}
