package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// BenchmarkNotFoundTiming measures Query Job Status over HTTPS, as the
// local partition A on one kept-alive connection, for a job id that does
// not exist (missing) and for a running job of partition B (other-owner).
// Both answer 404.1 with bodies of equal length; their ns/op should not
// differ beyond noise, or the time of the answer would tell A that B's job
// exists. Compare the medians of -count 5 runs.
func BenchmarkNotFoundTiming(b *testing.B) {
	s := newStack(b)
	client := s.client()
	defer client.Transport.(*http.Transport).CloseIdleConnections()
	cases := []struct{ name, id string }{
		{"missing", jobs.NewID()},
		{"other-owner", s.job(b, ownerB, "running")},
	}
	var want string // the body of the first case, its id taken out
	for _, c := range cases {
		url := s.https.URL + "/api/jobs/" + c.id
		get := func(b *testing.B) string {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != http.StatusNotFound {
				b.Fatalf("%d %s, want 404", resp.StatusCode, body)
			}
			return string(body)
		}
		b.Run(c.name, func(b *testing.B) {
			// The answers are the same but for the id, so any difference
			// in time comes from the lookup, not from what is written.
			got := strings.ReplaceAll(get(b), c.id, "{job-id}")
			if want == "" {
				want = got
			} else if got != want {
				b.Fatalf("answers differ:\n%s\n%s", got, want)
			}
			b.ReportAllocs()
			for b.Loop() {
				get(b)
			}
		})
	}
}
