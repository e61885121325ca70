package upstream_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// shapesInventory makes the simulated SE produce every job shape of the
// contract: the built-in objects, with outcomes and timings set per
// operation.
const shapesInventory = `# Every job shape of the job contract.
cpcs:
  - name: CPC1
    object-id: ` + cpc1ID + `
    target-name: IBM390PS.CPC1
    status: operating
    logical-partitions:
      - name: LP2
        object-id: ` + lp2ID + `
        status: not-activated
        operations:
          activate:               # complete 200 with job-results
            duration: 10s
            job-results: {message: "Logical partition LP2 activated.", details: {profile: DEFAULT, list: [1, 2]}}
      - name: LP3
        object-id: ` + lp3ID + `
        status: not-operating
        last-used-load-address: 0A80
        operations:
          load:                   # complete with an error code and reason
            duration: 10s
            status-code: 500
            reason-code: 263
            job-results: {message: "The load address is not valid."}
  - name: CPC2
    object-id: 7689e368-4186-4d7c-b2d5-57241f8c56ca
    target-name: IBM390PS.CPC2
    dpm-enabled: true
    status: operating
    partitions:
      - name: PART1
        object-id: ` + part1ID + `
        status: stopped
        operations:
          start:                  # running, cancel-pending, canceled
            duration: 60s
            cancel-duration: 10s
      - name: PART2
        object-id: ` + part2ID + `
        status: active
        operations:
          stop:                   # complete 204
            duration: 10s
`

// Every job shape of the contract (running, cancel-pending, complete 200
// with results, complete 204, complete with an error code and reason,
// canceled), produced by the simulated SE from an inventory file, reaches
// callers of a downstream gateway exactly as the upstream shows it: the
// same bytes over REST, the same fields over gRPC. Both gateways run on
// fake clocks, so each shape is looked at upstream before the downstream
// learns of it. The downstream pins the upstream's certificate.
func TestJobShapes(t *testing.T) {
	up := startUpstream(t, writeFile(t, "inventory.yaml", shapesInventory))
	fa := clocktest.NewFake(time.Now().UTC().Truncate(time.Second))
	const interval = 5 * time.Second
	down := startDownstream(t, up.url(), fa, interval, func(c *app.Config) { c.HMCFingerprint = up.fp })
	ctx := context.Background()
	g := down.grpc(t)
	rest := down.rest(t)
	upREST := up.rest(t)
	upSession := upREST.logon(t, gwUser, gwPassword)
	v := up.view(t)

	// shape checks the job's status on both gateways: the downstream's
	// REST body byte for byte, its gRPC job field for field, and the
	// upstream's REST body byte for byte.
	shape := func(what, id, target, upJob, wantBody string, wantJob *bcpiiv1.Job) {
		t.Helper()
		code, body := upREST.do(t, "GET", "/api/jobs/"+upJob, "", "X-API-Session", upSession)
		wantREST(t, what+" upstream", code, body, 200, wantBody)
		code, body = rest.do(t, "GET", "/api/jobs/"+id, "", "X-API-Target-Name", target)
		wantREST(t, what+" over REST", code, body, 200, wantBody)
		r, err := g.jobs.GetJob(withTarget(ctx, target), &bcpiiv1.GetJobRequest{JobId: id})
		if err != nil || !proto.Equal(r.Job, wantJob) {
			t.Fatalf("%s over gRPC: %v %v, want %v", what, r, err, wantJob)
		}
	}
	// ended runs an operation to its end upstream, looks at the ended
	// job there before the downstream polls it, then lets the downstream
	// poll once and checks both.
	ended := func(what, uri, target, wantBody string, wantJob *bcpiiv1.Job) {
		t.Helper()
		id := g.start(t, ctx, uri, target, "")
		upJob := v.newest(t)
		shape(what+" (running)", id, target, upJob, `{"status":"running"}`, &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_RUNNING})
		up.clock.Advance(10 * time.Second)
		v.watchUntil(t, upJob, wantJob.Status)
		code, body := upREST.do(t, "GET", "/api/jobs/"+upJob, "", "X-API-Session", upSession)
		wantREST(t, what+" upstream", code, body, 200, wantBody)
		code, body = rest.do(t, "GET", "/api/jobs/"+id, "", "X-API-Target-Name", target)
		wantREST(t, what+" over REST before the downstream polled", code, body, 200, `{"status":"running"}`)
		pollOnce(t, fa, interval)
		if j := g.wait(t, withTarget(ctx, target), id); !proto.Equal(j, wantJob) {
			t.Fatalf("%s: WaitJob %v, want %v", what, j, wantJob)
		}
		code, body = rest.do(t, "GET", "/api/jobs/"+id, "", "X-API-Target-Name", target)
		wantREST(t, what+" over REST", code, body, 200, wantBody)
	}

	// running, cancel-pending and canceled: a partition start.
	id := g.start(t, ctx, "/api/partitions/"+part1ID+"/operations/start", part1, "")
	upJob := v.newest(t)
	shape("running", id, part1, upJob, `{"status":"running"}`, &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_RUNNING})
	code, body := rest.do(t, "POST", "/api/jobs/"+id+"/operations/cancel", "", "X-API-Target-Name", part1)
	wantREST(t, "cancel", code, body, 202, "")
	v.watchUntil(t, upJob, bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING)
	shape("cancel-pending", id, part1, upJob, `{"status":"cancel-pending"}`, &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING})
	// Armed upstream: its sweeper, the start's duration, the cancel's.
	if !up.clock.WaitForTimers(3, timeoutChan(t)) {
		t.Fatal("the upstream's cancel-duration is not running")
	}
	up.clock.Advance(10 * time.Second)
	v.watchUntil(t, upJob, bcpiiv1.JobStatus_JOB_STATUS_CANCELED)
	canceled := `{"job-reason-code":0,"job-results":{"message":"The operation was canceled; the partition PART1 was left as it was."},"job-status-code":409,"status":"canceled"}`
	code, body = upREST.do(t, "GET", "/api/jobs/"+upJob, "", "X-API-Session", upSession)
	wantREST(t, "canceled upstream", code, body, 200, canceled)
	pollOnce(t, fa, interval)
	g.wait(t, withTarget(ctx, part1), id)
	code, body = rest.do(t, "GET", "/api/jobs/"+id, "", "X-API-Target-Name", part1)
	wantREST(t, "canceled over REST", code, body, 200, canceled)
	r, err := g.jobs.GetJob(withTarget(ctx, part1), &bcpiiv1.GetJobRequest{JobId: id})
	if want := (&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_CANCELED, JobStatusCode: proto.Int32(409), JobReasonCode: proto.Int32(0),
		JobResults: proto.String(`{"message":"The operation was canceled; the partition PART1 was left as it was."}`)}); err != nil || !proto.Equal(r.Job, want) {
		t.Fatalf("canceled over gRPC: %v %v, want %v", r, err, want)
	}

	ended("complete 200 with results", "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2,
		`{"job-results":{"message":"Logical partition LP2 activated.","details":{"profile":"DEFAULT","list":[1,2]}},"job-status-code":200,"status":"complete"}`,
		&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(200),
			JobResults: proto.String(`{"message":"Logical partition LP2 activated.","details":{"profile":"DEFAULT","list":[1,2]}}`)})
	ended("complete 204", "/api/partitions/"+part2ID+"/operations/stop", part2,
		`{"job-status-code":204,"status":"complete"}`,
		&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(204)})
	ended("complete with an error", "/api/logical-partitions/"+lp3ID+"/operations/load", lp3,
		`{"job-reason-code":263,"job-results":{"message":"The load address is not valid."},"job-status-code":500,"status":"complete"}`,
		&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(500), JobReasonCode: proto.Int32(263),
			JobResults: proto.String(`{"message":"The load address is not valid."}`)})
}

// pollOnce moves the downstream's fake clock past one poll of its one
// followed job, once that poll is armed beside the registry's sweeper.
func pollOnce(t *testing.T, fa *clocktest.Fake, interval time.Duration) {
	t.Helper()
	if !fa.WaitForTimers(2, timeoutChan(t)) {
		t.Fatal("the downstream's poll is not armed")
	}
	fa.Advance(interval * 11 / 10)
}
