package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// FuzzRESTPrincipalHeaders sends Query Job Status, Cancel Job and Delete
// for a running job of partition B with random X-API-Session,
// X-API-Target-Name, X-Bcpii-Principal and Grpc-Metadata-X-Bcpii-Principal
// values, from loopback (the local partition A) or from elsewhere, with or
// without a live session of alice. Whatever the headers say, no answer is
// a success or a 5xx, every error is an HMC error body, and the job is
// still running afterwards: no header makes a caller partition B.
func FuzzRESTPrincipalHeaders(f *testing.F) {
	for _, seed := range []struct {
		session          string
		sessionMode      uint8
		target           string
		principal, grpcP string
		loopback         bool
	}{
		{"", 0, partB, "partition:" + partB, "partition:" + partB, true},
		{"", 0, partB, "partition:" + partB, "", false},
		{"", 2, partB, "user:alice", "partition:" + partB, true},
		{"x", 1, "ibm390ps.cpc1.lp2", "partition:ibm390ps.cpc1.lp2", "partition:IBM390PS.CPC1.LP2", true},
		{"", 1, "", "", "", true},
		{"", 0, "\x80", "partition:" + partB + "\x00", "user:", true},
		{"", 0, partB + "," + partB, "partition:" + partB + ",partition:" + partB, "partition", false},
		{"", 3, "IBM390PS.CPC1.LP1", "partition:IBM390PS.CPC1.LP1", "partition:IBM390PS.CPC1.LP1", true},
	} {
		f.Add(seed.session, seed.sessionMode, seed.target, seed.principal, seed.grpcP, seed.loopback)
	}
	s := newStack(f)
	ctx := context.Background()
	j, err := s.reg.Create(ctx, jobs.Spec{Owner: ownerB, Target: partB, Operation: "test", Cancelable: true})
	if err != nil {
		f.Fatal(err)
	}
	live := s.logon(f)

	f.Fuzz(func(t *testing.T, session string, sessionMode uint8, target, principal, grpcPrincipal string, loopback bool) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			path := "/api/jobs/" + j.ID
			if m == http.MethodPost {
				path += "/operations/cancel"
			}
			req := httptest.NewRequest(m, "https://gateway"+path, nil)
			req.RemoteAddr = "192.0.2.1:1234"
			if loopback {
				req.RemoteAddr = "127.0.0.1:1234"
			}
			switch sessionMode % 4 {
			case 1:
				req.Header["X-Api-Session"] = []string{session}
			case 2:
				req.Header["X-Api-Session"] = []string{live}
			case 3:
				req.Header["X-Api-Session"] = []string{live, session}
			}
			req.Header["X-Api-Target-Name"] = []string{target}
			req.Header["X-Bcpii-Principal"] = []string{principal}
			req.Header["Grpc-Metadata-X-Bcpii-Principal"] = []string{grpcPrincipal}

			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, req)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Fatalf("%s %s as %s with %q: %d %s", m, path, req.RemoteAddr, req.Header, rec.Code, rec.Body)
			}
			var e struct {
				HTTPStatus int `json:"http-status"`
				Reason     *int
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.HTTPStatus != rec.Code || e.Reason == nil ||
				rec.Header().Get("Content-Type") != gateway.ContentType {
				t.Fatalf("%s %s: %d %q %s is no HMC error", m, path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		}
		got, err := s.reg.Get(ctx, jobs.Caller{Owner: ownerB}, j.ID)
		if err != nil || got.Status != jobs.Running {
			t.Fatalf("partition B's job is now %v, %v", got.Status, err)
		}
	})
}
