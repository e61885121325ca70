package upstream

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"

	"go.yaml.in/yaml/v3"
)

func TestParseJobStatus(t *testing.T) {
	ok := []struct {
		in   string
		want jobs.Result
	}{
		{`{"status":"running"}`, jobs.Result{Status: jobs.Running}},
		{`{"status":"cancel-pending","job-status-code":200}`, jobs.Result{Status: jobs.CancelPending}},
		{` {"status":"complete","job-status-code":200,"job-reason-code":0} `, jobs.Result{Status: jobs.Complete, StatusCode: 200}},
		{`{"status":"complete","job-status-code":204,"job-results":null}`, jobs.Result{Status: jobs.Complete, StatusCode: 204}},
		{`{"status":"canceled","job-status-code":409,"job-reason-code":0,"job-results":{ "m" : [ ] }}`,
			jobs.Result{Status: jobs.Canceled, StatusCode: 409, Results: []byte(`{"m":[]}`)}},
		{`{"job-status-code":500,"job-reason-code":263,"status":"complete","x-new-field":{"a":1}}`,
			jobs.Result{Status: jobs.Complete, StatusCode: 500, ReasonCode: 263}},
	}
	for _, tc := range ok {
		got, err := ParseJobStatus([]byte(tc.in))
		if err != nil || got.Status != tc.want.Status || got.StatusCode != tc.want.StatusCode ||
			got.ReasonCode != tc.want.ReasonCode || string(got.Results) != string(tc.want.Results) {
			t.Errorf("ParseJobStatus(%s) = %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		``, `null`, `[]`, `"running"`, `{}`, `{"status":"done"}`, `{"status":1}`,
		`{"status":"complete"}`, `{"status":"complete","job-status-code":"200"}`,
		`{"status":"complete","job-status-code":99}`, `{"status":"complete","job-status-code":600}`,
		`{"status":"complete","job-status-code":200.5}`, `{"status":"complete","job-status-code":200,"job-reason-code":"1"}`,
		`{"status":"running","status":"complete"}`, `{"status":"running"} {}`, `{"status":"running"`,
		`{"status":"running",}`, `{"status":"complete","job-status-code":200,"job-reason-code":99999999999}`,
	} {
		if got, err := ParseJobStatus([]byte(in)); err == nil {
			t.Errorf("ParseJobStatus(%s) = %+v, want an error", in, got)
		}
	}
}

// FuzzParseJobStatus: upstream job status bodies never panic the parser,
// and what it accepts the registry can store: a valid status, a status
// code in range for an ended job, and job-results that are the input's,
// compact.
func FuzzParseJobStatus(f *testing.F) {
	for _, s := range []string{
		`{"status":"running"}`,
		`{"status":"complete","job-status-code":200,"job-results":{"message":"x"}}`,
		`{"status":"canceled","job-status-code":409,"job-reason-code":0}`,
		`{"job-results":[1, 2 ,{"a" :"\u00e9"}],"status":"complete","job-status-code":500,"job-reason-code":1}`,
		`{"status":"complete","status":"running"}`,
		`{"status":"complete","job-status-code":204} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParseJobStatus(b)
		if err != nil {
			return
		}
		if !res.Status.Valid() {
			t.Fatalf("status %q", res.Status)
		}
		if !res.Status.Ended() {
			if res.StatusCode != 0 || res.Results != nil {
				t.Fatalf("running job with codes or results: %+v", res)
			}
			return
		}
		if res.StatusCode < 100 || res.StatusCode > 599 {
			t.Fatalf("status code %d", res.StatusCode)
		}
		if res.Results != nil {
			var c bytes.Buffer
			if err := json.Compact(&c, res.Results); err != nil || !bytes.Equal(c.Bytes(), res.Results) {
				t.Fatalf("results %q are not compact JSON", res.Results)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
			}
			var orig bytes.Buffer
			_ = json.Compact(&orig, doc["job-results"])
			if !bytes.Equal(orig.Bytes(), res.Results) {
				t.Fatalf("results %q, input's %q", res.Results, orig.Bytes())
			}
		}
	})
}

// FuzzParseCredentials: no input panics the parser, an accepted file
// gives values without control characters or surrounding blanks, errors
// never quote the file, and a file written from accepted values reads back
// the same.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		"userid: gw\npassword: s3cr3t\n",
		"# c\r\npassword:a:b:c\r\nuserid:\tx \r\n",
		"userid: a\nuserid: b\n",
		"\uFEFFuserid: a\npassword: #x\n",
		"password\n",
		"userid: \"gw\"\npassword: 'it''s'\n",
		"{userid: a, password: b}",
		"userid: a\npassword: b #c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err != nil {
			// Errors are made of fixed texts and line numbers, never of
			// what the file holds.
			msg := lineNumber.ReplaceAllString(err.Error(), "line N")
			if !slices.Contains(credentialErrors, msg) {
				t.Fatalf("error %q", err)
			}
			return
		}
		for _, v := range []string{c.UserID, c.Password} {
			if v == "" || strings.ContainsFunc(v, isControl) || strings.TrimSpace(v) != v && strings.Trim(v, " \t") != v || !utf8.ValidString(v) {
				t.Fatalf("value %q", v)
			}
		}
		// Written as YAML, as a YAML library writes it, it reads back.
		out, err := yaml.Marshal(map[string]string{"userid": c.UserID, "password": c.Password})
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCredentials(out)
		if err != nil || again != c {
			t.Fatalf("round trip of %#v through %q: %#v %v", c, out, again, err)
		}
	})
}

var lineNumber = regexp.MustCompile(`line [0-9]+`)

var credentialErrors = []string{
	"credentials: the file is larger than 16 KiB",
	"credentials: the file is not UTF-8",
	`credentials: line N is not "userid: ..." or "password: ..."`,
	"credentials: line N: the value is empty",
	"credentials: line N: the value is longer than 1024 bytes",
	"credentials: line N: the value holds a control character",
	"credentials: line N: the value begins or ends with a blank",
	"credentials: line N: userid is given twice",
	"credentials: line N: password is given twice",
	"credentials: line N: the key is not userid or password",
	`credentials: line N: the value is followed by " #", which YAML reads as a comment; quote the value`,
	"credentials: no userid line",
	"credentials: no password line",
}

// FuzzParseFingerprint: what parses formats back to an equal fingerprint.
func FuzzParseFingerprint(f *testing.F) {
	f.Add("AB:CD:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC")
	f.Add(strings.Repeat("0a", 32))
	f.Add("ab:cd")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		again, err := ParseFingerprint(tlsutil.FormatFingerprint(fp))
		if err != nil || again != fp {
			t.Fatalf("round trip of %q: %x %v", s, again, err)
		}
		if !strings.EqualFold(strings.ReplaceAll(s, ":", ""), strings.ReplaceAll(tlsutil.FormatFingerprint(fp), ":", "")) {
			t.Fatalf("%q parsed as %s", s, tlsutil.FormatFingerprint(fp))
		}
	})
}

// FuzzParseRoute: caller URIs never panic the router, and whatever it
// forwards stays inside the table: under /api/, with ids of unreserved
// characters that cannot climb out of their segment.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/api/cpcs", "/api/cpcs/c1/logical-partitions?name=LP.*", "/api/logical-partitions/l1/operations/activate",
		"/api/partitions/p1/operations/start", "/api/cpcs/../users", "/api/jobs/x", "/api/cpcs/%2e%2e/x", "/api//cpcs",
		"/api/cpcs/c1/image-activation-profiles/LP1", "/api/cpcs/c1/load-activation-profiles/%2e%2e", "/api/console",
		"/api/services/metrics/context",
	} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		rt, err := parseRoute(method, uri)
		if obj, ok := objectOf(uri); ok && (!strings.HasPrefix(uri, obj) || hasDotSegment(obj)) {
			t.Fatalf("objectOf(%q) = %q", uri, obj)
		}
		if err != nil {
			return
		}
		path, _, _ := strings.Cut(uri, "?")
		if !strings.HasPrefix(path, "/api/") || hasDotSegment(path) || strings.Contains(path, "%") || strings.Contains(path, "//") {
			t.Fatalf("forwarded %s %q", method, uri)
		}
		if method != rt.Route.Method || (rt.Route.Method != "GET" && rt.Route.Method != "POST") || rt.Route.Kind == "" {
			t.Fatalf("route %s %s for %q", rt.Route.Method, rt.Route.Pattern, method)
		}
		if (rt.Route.Action != "") != (rt.Route.Method == "POST" && rt.Route.Kind != bcpii.KindConsole && !rt.Route.Sync) {
			t.Fatalf("route %+v", rt)
		}
		if obj := rt.Object.URI(); obj != "" && (!strings.HasPrefix(path, obj) || !validID(rt.Object.ID)) {
			t.Fatalf("object %q of %q", obj, uri)
		}
		if rt.Route.Cancelable && !strings.HasPrefix(path, "/api/partitions/") {
			t.Fatalf("%q cancelable", uri)
		}
	})
}

func hasDotSegment(path string) bool {
	for _, s := range strings.Split(path, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// FuzzUpstreamAnswers: upstream error bodies and 202 bodies never panic
// their parsers; messages are safe to show, and a job-uri that is accepted
// is /api/jobs/{unreserved id}.
func FuzzUpstreamAnswers(f *testing.F) {
	f.Add(409, []byte(`{"http-status":409,"reason":1,"message":"x"}`))
	f.Add(202, []byte(`{"job-uri":"/api/jobs/abc-1","x":[1]}`))
	f.Add(202, []byte(`{"job-uri":"/api/jobs/../sessions"}`))
	f.Add(502, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 500
		}
		e := backendError(response{status: status, body: body})
		if e.HTTPStatus < 100 || len(e.Message) > 512 || !utf8.ValidString(e.Message) || strings.ContainsFunc(e.Message, isControl) {
			t.Fatalf("error %+v", e)
		}
		ref, fields, err := parseAccepted(body)
		if err != nil || ref == "" {
			return
		}
		id, ok := strings.CutPrefix(ref, "/api/jobs/")
		if !ok || !validID(id) {
			t.Fatalf("job-uri %q", ref)
		}
		fields["job-uri"] = mustJSON("/api/jobs/local")
		if out := objectJSON(fields); !json.Valid(out) {
			t.Fatalf("rewritten answer %q", out)
		}
	})
}
