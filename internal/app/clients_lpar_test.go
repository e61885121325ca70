package app_test

import (
	"testing"
)

// The built-in inventory's ids of LP1 and LP3.
const (
	lp1ID = "966349c5-ce85-48d4-b15d-c82d99835b98"
	lp3ID = "ab648f14-bb53-4a8b-b2bd-7c224d5b4360"
)

// TestZhmcclientStopStartResetRestart makes the requests zhmcclient's
// Lpar.stop, start, reset_normal, reset_clear and psw_restart make with
// wait_for_completion=True: the operation with zhmcclient's body (none for
// stop, start and psw_restart; {"force": true} only when force is given,
// else {} for the resets), then the job polled to its end and deleted;
// none of them waits for a status. zhmcclient sends its JSON content type
// on every request, with a body or not. Stop and start apply to an
// activated LPAR whether it operates or not, as on the HMC.
func TestZhmcclientStopStartResetRestart(t *testing.T) {
	r := zhmcclientSession(t)
	lp1 := "/api/logical-partitions/" + lp1ID
	lp3 := "/api/logical-partitions/" + lp3ID
	status := func(lpar, want string) {
		t.Helper()
		r.do("GET", lpar+"?properties=status", nil, "", 200, `{"status":"`+want+`"}`)
	}
	steps := []struct{ call, lpar, op, body, message, after string }{
		{"LP1.stop()", lp1, "stop", "", "Logical partition LP1 stopped.", "not-operating"},
		{"LP1.stop() again", lp1, "stop", "", "Logical partition LP1 stopped.", "not-operating"},
		{"LP1.start()", lp1, "start", "", "Logical partition LP1 started.", "operating"},
		{"LP1.start() again", lp1, "start", "", "Logical partition LP1 started.", "operating"},
		{"LP1.reset_normal(force=True)", lp1, "reset-normal", `{"force": true}`, "Logical partition LP1 reset.", "not-operating"},
		{"LP3.reset_clear()", lp3, "reset-clear", "{}", "Logical partition LP3 reset and cleared.", "not-operating"},
		{"LP3.psw_restart()", lp3, "psw-restart", "", "Logical partition LP3 restarted.", "operating"},
	}
	for _, s := range steps {
		job := jobURIOf(t, r.do("POST", s.lpar+"/operations/"+s.op, nil, s.body, 202, ""))
		r.job(job, nil, `{"job-results":{"message":"`+s.message+`"},"job-status-code":200,"status":"complete"}`)
		r.do("DELETE", job, nil, "", 204, "")
		status(s.lpar, s.after)
	}
	// LP3.reset_clear() without force on the now operating LP3: the job
	// ends 409.1, which zhmcclient raises as HTTPError 409,1.
	job := jobURIOf(t, r.do("POST", lp3+"/operations/reset-clear", nil, "{}", 202, ""))
	r.job(job, nil, `{"job-reason-code":1,"job-results":{"message":"The logical partition LP3 has status operating; resetting it needs force."},"job-status-code":409,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	status(lp3, "operating")
}

// TestZhmcclientActivateWithProfile makes the requests of zhmcclient's
// Lpar.activate(activation_profile_name=...): naming another LPAR's image
// profile, the HMC accepts the request and the job ends 500.263 (which
// zhmcclient raises as HTTPError 500,263, as its tests against an HMC
// expect); naming a load profile, zhmcclient reads the LPAR's image
// profile, sees a name other than the LPAR's, and waits for operating.
func TestZhmcclientActivateWithProfile(t *testing.T) {
	r := zhmcclientSession(t)
	cpc := "/api/cpcs/" + cpc1ID
	lpar := "/api/logical-partitions/" + lp2ID

	job := jobURIOf(t, r.do("POST", lpar+"/operations/activate", nil, `{"activation-profile-name": "LP1"}`, 202, ""))
	r.job(job, nil, `{"job-reason-code":263,"job-results":{"message":"The image activation profile LP1 is not named after logical partition LP2; it activates logical partition LP1 only."},"job-status-code":500,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	r.do("GET", cpc+"/logical-partitions?name=LP2", nil, "", 200,
		`{"logical-partitions":[{"name":"LP2","object-uri":"`+lpar+`","status":"not-activated","target-name":"IBM390PS.CPC1.LP2"}]}`)

	job = jobURIOf(t, r.do("POST", lpar+"/operations/activate", nil, `{"activation-profile-name": "ZOSLOAD"}`, 202, ""))
	r.job(job, nil, `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	r.do("GET", cpc+"/image-activation-profiles", nil, "", 200, "")
	r.do("GET", cpc+"/image-activation-profiles/LP2", nil, "", 200, "")
	r.do("GET", cpc+"/logical-partitions?name=LP2", nil, "", 200,
		`{"logical-partitions":[{"name":"LP2","object-uri":"`+lpar+`","status":"operating","target-name":"IBM390PS.CPC1.LP2"}]}`)
	r.do("GET", lpar+"?properties=last-used-activation-profile,last-used-load-address", nil, "", 200,
		`{"last-used-activation-profile":"ZOSLOAD","last-used-load-address":"0A80"}`)
}
