package gateway_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

func TestMain(m *testing.M) {
	if os.Getenv("BCPII_FANOUT_CLIENT") != "" {
		os.Exit(fanoutClient()) // the client process of BenchmarkWatchFanout
	}
	goleak.VerifyTestMain(m)
}

// One table drives both interfaces: each scenario runs over gRPC (the
// external server, on a real TCP connection) and over REST (HTTPS), and
// both must give the same HMC status and reason.
func TestSameOutcomeOverGRPCAndREST(t *testing.T) {
	type op string
	const (
		get    op = "get"
		cancel op = "cancel"
		del    op = "delete"
	)
	tests := []struct {
		op     op
		owner  string // "mine" or "other"
		state  string
		status int // HTTP status; 200/202/204 for success
		reason int
		code   codes.Code
	}{
		{get, "mine", "running", 200, 0, codes.OK},
		{get, "mine", "complete-409-1", 200, 0, codes.OK},
		{get, "other", "running", 404, 1, codes.NotFound},
		{get, "mine", "expired", 404, 1, codes.NotFound},
		{get, "mine", "deleted", 404, 1, codes.NotFound},
		{cancel, "mine", "running", 202, 0, codes.OK},
		{cancel, "other", "running", 404, 1, codes.NotFound},
		{cancel, "mine", "uncancelable", 404, 4, codes.FailedPrecondition},
		{cancel, "mine", "complete-200", 409, 41, codes.FailedPrecondition},
		{cancel, "mine", "canceled", 409, 41, codes.FailedPrecondition},
		{cancel, "mine", "cancel-pending", 409, 42, codes.FailedPrecondition},
		{cancel, "mine", "expired", 404, 1, codes.NotFound},
		{del, "mine", "complete-200", 204, 0, codes.OK},
		{del, "mine", "canceled", 204, 0, codes.OK},
		{del, "mine", "running", 409, 40, codes.FailedPrecondition},
		{del, "mine", "cancel-pending", 409, 40, codes.FailedPrecondition},
		{del, "other", "complete-200", 404, 1, codes.NotFound},
		{del, "mine", "deleted", 404, 1, codes.NotFound},
	}
	for _, tc := range tests {
		name := string(tc.op) + "/" + tc.owner + "/" + tc.state
		t.Run(name, func(t *testing.T) {
			for _, via := range []string{"grpc", "rest"} {
				s := newStack(t)
				owner := ownerA
				if tc.owner == "other" {
					owner = ownerB
				}
				id := s.job(t, owner, tc.state)
				var gotStatus, gotReason int
				if via == "grpc" {
					gotStatus, gotReason = callGRPC(t, s, string(tc.op), id, tc.code)
				} else {
					gotStatus, gotReason = callREST(t, s, string(tc.op), id)
				}
				if gotStatus != tc.status || gotReason != tc.reason {
					t.Errorf("%s: %d.%d, want %d.%d", via, gotStatus, gotReason, tc.status, tc.reason)
				}
			}
		})
	}
}

func callGRPC(t *testing.T, s *stack, op, id string, wantCode codes.Code) (int, int) {
	t.Helper()
	ctx := context.Background()
	var err error
	success := 0
	switch op {
	case "get":
		_, err = s.grpc.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id})
		success = 200
	case "cancel":
		_, err = s.grpc.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
		success = 202
	case "delete":
		_, err = s.grpc.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
		success = 204
	}
	if status.Code(err) != wantCode {
		t.Errorf("grpc code %v, want %v", status.Code(err), wantCode)
	}
	if err == nil {
		return success, 0
	}
	d, ok := rpctypes.HMCDetail(err)
	if !ok {
		t.Fatalf("grpc error without HMC detail: %v", err)
	}
	return int(d.HttpStatus), int(d.Reason)
}

func callREST(t *testing.T, s *stack, op, id string) (int, int) {
	t.Helper()
	method, path := http.MethodGet, "/api/jobs/"+id
	switch op {
	case "cancel":
		method, path = http.MethodPost, path+"/operations/cancel"
	case "delete":
		method = http.MethodDelete
	}
	req, err := http.NewRequest(method, s.https.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return resp.StatusCode, 0
	}
	var e struct {
		HTTPStatus int `json:"http-status"`
		Reason     int `json:"reason"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.HTTPStatus != resp.StatusCode {
		t.Errorf("http-status %d in a %d answer", e.HTTPStatus, resp.StatusCode)
	}
	return e.HTTPStatus, e.Reason
}

// A client using nothing but net/http trusts the server by a CA file and
// checks the certificate's SHA-256 fingerprint on top; no verification is
// skipped.
func TestNetHTTPClientVerifiesTLS(t *testing.T) {
	s := newStack(t)
	id := s.job(t, ownerA, "complete-204")
	leaf := s.https.Certificate()
	sum := sha256.Sum256(leaf.Raw)
	pinned := hex.EncodeToString(sum[:])

	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := func(roots *x509.CertPool, fingerprint string) *http.Client {
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots,
			VerifyConnection: func(cs tls.ConnectionState) error {
				got := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if hex.EncodeToString(got[:]) != fingerprint {
					return errors.New("certificate fingerprint mismatch")
				}
				return nil
			},
		}}}
	}
	good := client(pool, pinned)
	defer good.CloseIdleConnections()
	resp, err := good.Get(s.https.URL + "/api/jobs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"job-status-code":204,"status":"complete"}` {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if resp.Proto != "HTTP/1.1" {
		t.Errorf("protocol %s, want HTTP/1.1", resp.Proto)
	}

	// A client without the CA, or pinning another fingerprint, is refused.
	other := sha256.Sum256([]byte("another certificate"))
	for name, c := range map[string]*http.Client{
		"no CA":             client(x509.NewCertPool(), pinned),
		"wrong fingerprint": client(pool, hex.EncodeToString(other[:])),
	} {
		if resp, err := c.Get(s.https.URL + "/api/jobs/" + id); err == nil {
			resp.Body.Close()
			t.Errorf("%s: served", name)
		}
		c.CloseIdleConnections()
	}
}

// fetchOpenAPI is the document the gateway serves.
func fetchOpenAPI(t *testing.T) []byte {
	t.Helper()
	s := newStack(t)
	resp, err := s.client().Get(s.https.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("openapi: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return b
}

func TestOpenAPIDocument(t *testing.T) {
	var doc struct {
		OpenAPI    string                                       `json:"openapi"`
		Info       map[string]any                               `json:"info"`
		Servers    []any                                        `json:"servers"`
		Paths      map[string]map[string]map[string]any         `json:"paths"`
		Components map[string]map[string]map[string]interface{} `json:"components"`
	}
	if err := json.Unmarshal(fetchOpenAPI(t), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Servers) == 0 {
		t.Fatalf("openapi %q, servers %v", doc.OpenAPI, doc.Servers)
	}
	if doc.Info["title"] != gateway.OpenAPITitle || doc.Info["version"] != version.Get().Version || doc.Info["license"] == nil {
		t.Errorf("openapi info %v", doc.Info)
	}
	schemes := doc.Components["securitySchemes"]
	if schemes["apiSession"]["name"] != "X-API-Session" || schemes["partitionCertificate"]["type"] != "mutualTLS" {
		t.Errorf("security schemes %v", schemes)
	}
	paths := map[string][]string{
		"/api/jobs/{job-id}":                   {"get", "delete"},
		"/api/jobs/{job-id}/operations/cancel": {"post"},
		"/api/jobs/{job-id}/events":            {"get"},
		gateway.JobCompletionsPath:             {"get"},
		"/api/sessions":                        {"post"},
		"/api/sessions/this-session":           {"delete"},
		gateway.NotificationTopicsPath:         {"get"},
		gateway.OpenAPIPath:                    {"get"},
	}
	// Every request of the route table.
	for _, r := range bcpii.Routes() {
		paths[r.Pattern] = append(paths[r.Pattern], strings.ToLower(r.Method))
	}
	for path, methods := range paths {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi lacks %s %s", m, path)
			}
		}
	}
	// Every operation: a unique operationId, the HMC error body for its
	// errors.
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for m, op := range item {
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] != "" {
				t.Errorf("%s %s: operationId %q (also %s)", m, path, id, ids[id])
			}
			ids[id] = m + " " + path
			responses, _ := op["responses"].(map[string]any)
			for _, code := range []string{"400", "403", "404", "503", "default"} {
				r, _ := responses[code].(map[string]any)
				if r["$ref"] != "#/components/responses/HMCError" {
					t.Errorf("%s %s: the %s answer is %v, not the HMC error body", m, path, code, r)
				}
			}
		}
	}
	if d, _ := doc.Components["schemas"]["HMCError"]["description"].(string); !strings.Contains(d, "- 409.40: ") || !strings.Contains(d, "- 500.263: ") {
		t.Errorf("the HMC error schema does not list the catalogue: %q", d)
	}
	scsi := doc.Paths["/api/logical-partitions/{id}/operations/scsi-load"]["post"]
	if b, _ := json.Marshal(scsi["requestBody"]); !strings.Contains(string(b), `"required":["load-address","world-wide-port-name","logical-unit-number"]`) ||
		!strings.Contains(string(b), `"disk-partition-id":{"minimum":0,"type":"integer"}`) {
		t.Errorf("SCSI Load's body schema: %s", b)
	}
	if op := doc.Paths["/api/logical-partitions/{id}/operations/activate"]["post"]; op["operationId"] != "activateLogicalPartition" {
		t.Errorf("Activate Logical Partition: operationId %v", op["operationId"])
	}
}

// TestOpenAPILint lints the document with Redocly's OpenAPI linter
// (tools/package.json), its recommended rules: no error may remain.
func TestOpenAPILint(t *testing.T) {
	redocly, err := filepath.Abs("../tools/node_modules/.bin/redocly")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(redocly); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redocly: %v (npm ci in tools/)", err)
		}
		t.Skip("no redocly: run 'npm ci' in tools/")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(path, fetchOpenAPI(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, redocly, "lint", "--extends=recommended", "--format=stylish", path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), " warning ") {
		t.Fatalf("redocly lint: %v\n%s", err, out)
	}
}

// restFuzzTarget sends one request through the REST handler and checks the
// answer: never a 5xx, and an error is always a well-formed HMC body.
func restFuzzTarget(t *testing.T, s *stack, req *http.Request) {
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %q: %d %s", req.Method, req.URL.RawPath, resp.StatusCode, body)
	}
	if resp.StatusCode >= 400 {
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("error body is not JSON: %q", body)
		}
		for _, k := range []string{"http-status", "reason", "message", "request-method", "request-uri", "request-query-parms"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("error body lacks %q: %s", k, body)
			}
		}
		if int(e["http-status"].(float64)) != resp.StatusCode {
			t.Fatalf("http-status %v in a %d answer", e["http-status"], resp.StatusCode)
		}
		if resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Fatalf("error Content-Type %q", resp.Header.Get("Content-Type"))
		}
	}
}

func FuzzRESTJobID(f *testing.F) {
	for _, seed := range []string{"0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", "%2F", "..", "%zz", "a/b", "", "%00", "é", "x?y=1", strings.Repeat("a", 5000)} {
		f.Add(seed, "GET")
	}
	f.Add("0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10/operations/cancel", "POST")
	f.Add("0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", "DELETE")
	s := newStack(f)
	f.Fuzz(func(t *testing.T, id, method string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = "GET"
		}
		raw := "/api/jobs/" + id
		u := &url.URL{Path: raw, RawPath: raw}
		if p, err := url.PathUnescape(raw); err == nil {
			u.Path = p
		}
		req := &http.Request{Method: method, URL: u, RequestURI: raw, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody}
		req = req.WithContext(context.Background())
		restFuzzTarget(t, s, req)
	})
}

func FuzzRESTHeaders(f *testing.F) {
	f.Add("application/json", "IBM390PS.CPC1.LP1", "DELETE", "application/json", "a=1")
	f.Add("text/html;q=0.5, */*;q=0", "ibm390ps.cpc1", "", "", "")
	f.Add(";;;,,,q=", "\x00", "GET", "multipart/form-data; boundary=x", "%zz=%")
	s := newStack(f)
	id := s.job(f, ownerA, "running")
	f.Fuzz(func(t *testing.T, accept, target, override, contentType, query string) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			path := "/api/jobs/" + id
			if m == http.MethodPost {
				path += "/operations/cancel"
			}
			req := httptest.NewRequest(m, "https://gateway"+path, nil)
			req.RemoteAddr = "127.0.0.1:40000" // the local partition, so requests reach the service
			req.URL.RawQuery = query
			req.RequestURI = path + "?" + query
			for k, v := range map[string]string{"Accept": accept, "X-API-Target-Name": target, "X-HTTP-Method-Override": override, "Content-Type": contentType} {
				req.Header[k] = []string{v}
			}
			restFuzzTarget(t, s, req)
		}
	})
}
