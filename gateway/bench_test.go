package gateway_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkQueryJobStatusREST measures Query Job Status over HTTPS with
// keep-alive, 1 and 64 concurrent clients each on its own connection,
// through the whole gateway path (HTTPS, the REST checks, grpc-gateway, the
// in-process gRPC connection and every interceptor, the registry), the
// same with a stock gRPC connection over a Unix socket in place of the
// in-process one (gateway-unix), and,
// in the same run, through a bare net/http handler that answers a fixed,
// identical body with the same headers. Compare ns/op of the two.
func BenchmarkQueryJobStatusREST(b *testing.B) {
	const body = `{"job-status-code":200,"status":"complete"}`
	for _, target := range []string{"gateway", "gateway-unix", "bare"} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("path=%s/clients=%d", target, clients), func(b *testing.B) {
				var url string
				var client *http.Client
				if target != "bare" {
					over := inProcess
					if target == "gateway-unix" {
						over = overUnix
					}
					s := cleanedUp(b, over)
					url = s.https.URL + "/api/jobs/" + s.job(b, ownerA, "complete-200")
					client = s.client()
				} else {
					bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						h := w.Header()
						h.Set("Server", "bcpii-gateway")
						h.Set("Cache-Control", "no-cache")
						h.Set("Content-Type", "application/json;charset=UTF-8")
						h.Set("Content-Length", strconv.Itoa(len(body)))
						_, _ = io.WriteString(w, body)
					}))
					bare.Config.ErrorLog = log.New(io.Discard, "", 0)
					bare.StartTLS()
					defer bare.Close()
					url = bare.URL + "/api/jobs/x"
					client = bare.Client()
				}
				tr := client.Transport.(*http.Transport)
				tr.MaxIdleConnsPerHost = clients
				defer tr.CloseIdleConnections()
				get := func() error {
					resp, err := client.Get(url)
					if err != nil {
						return err
					}
					got, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 || string(got) != body {
						return fmt.Errorf("answer %d %q", resp.StatusCode, got)
					}
					return nil
				}
				// Open every connection before timing.
				var wg sync.WaitGroup
				for range clients {
					wg.Go(func() {
						if err := get(); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				b.ReportAllocs()
				b.ResetTimer()
				per := b.N / clients
				for c := range clients {
					n := per
					if c == 0 {
						n += b.N % clients
					}
					wg.Go(func() {
						for range n {
							if err := get(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
