package gateway

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// TestRESTDeclaredOnce walks every google.api.http rule and every route of
// a gateway: each rule is one route method that calls its RPC, public
// exactly when the service needs no identity for it; each route method
// that names no RPC answers itself (the event streams, the operations of
// bcpii's route table, Submit Requests, this document), so nothing reaches
// grpc-gateway's mux that a rule does not declare.
func TestRESTDeclaredOnce(t *testing.T) {
	var conn grpc.ClientConnInterface = (*grpc.ClientConn)(nil)
	g, err := New(Config{Conn: conn, Authenticator: &bcpii.Authenticator{}, OpenAPI: []byte(`{"swagger":"2.0","paths":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rules := HTTPRules()
	if len(rules) < 7 {
		t.Fatalf("%d http rules", len(rules))
	}
	declared := map[string]HTTPRule{}
	for _, r := range rules {
		key := r.Method + " " + r.Path
		if _, dup := declared[key]; dup {
			t.Errorf("%s is declared by two rules", key)
		}
		declared[key] = r
		if strings.ContainsAny(r.Path, "_") {
			t.Errorf("%s: a path variable in proto spelling", key)
		}
	}
	seen := map[string]bool{}
	for _, rt := range g.routes {
		for verb, m := range rt.methods {
			key := verb + " " + rt.pattern
			if seen[key] {
				t.Errorf("%s is routed twice", key)
			}
			seen[key] = true
			r, isRule := declared[key]
			switch {
			case m.rpc != "" && !isRule:
				t.Errorf("%s calls %s, which no http rule declares", key, m.rpc)
			case isRule && m.rpc != r.RPC:
				t.Errorf("%s calls %q, its rule %s", key, m.rpc, r.RPC)
			case m.rpc == "" && m.local == nil:
				t.Errorf("%s declares no rule and does not answer itself: grpc-gateway would serve it undeclared", key)
			}
			if want := m.rpc != "" && server.Unauthenticated(m.rpc); m.public != want {
				t.Errorf("%s: public %v, the service says %v", key, m.public, want)
			}
		}
	}
	for key := range declared {
		if !seen[key] {
			t.Errorf("the rule %s has no route", key)
		}
	}
	// The two requests a caller makes before it has an identity.
	for _, key := range []string{http.MethodPost + " /api/sessions", http.MethodGet + " /api/version"} {
		rt, _ := g.match(strings.SplitN(key, " ", 2)[1], nil)
		if rt == nil || !rt.methods[strings.SplitN(key, " ", 2)[0]].public {
			t.Errorf("%s is not public", key)
		}
	}
}
