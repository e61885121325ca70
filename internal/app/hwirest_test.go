package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// TestHWIRESTActivateSample replays the z/OS HWIREST LPAR-activate C
// sample (IBM/zOS-BCPii, HWIRSTC1) over the BCPii interface as the local
// partition LP1: List CPCs by name, its LPARs by name with the CPC's
// target, the LPAR's status and next-activation-profile-name one property
// at a time with cached values allowed, activate with that profile and
// force, poll the job, then the status again; it reads the fields the
// sample reads. Then the audit sample's (RXAUDIT1) way to find the local
// CPC: the one entry of List CPCs whose location is "local". BCPii's
// lists say which CPC is the requester's and which LPAR is the requester.
func TestHWIRESTActivateSample(t *testing.T) {
	g := startGateway(t, nil) // loopback callers are the local partition LP1
	r := &replay{t: t, g: g, c: g.restClient(t), jobs: bcpiiv1.NewJobServiceClient(g.grpcConn(t))}
	entries := func(body []byte, list string) []map[string]any {
		t.Helper()
		var v map[string][]map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return v[list]
	}

	cpcs := entries(r.do("GET", "/api/cpcs?name=CPC1", nil, "", 200, ""), "cpcs")
	if len(cpcs) != 1 || cpcs[0]["object-uri"] != "/api/cpcs/"+cpc1ID || cpcs[0]["target-name"] != cpc1 || cpcs[0]["location"] != "local" {
		t.Fatalf("CPCs %v", cpcs)
	}
	cpcTarget := http.Header{"X-Api-Target-Name": {cpc1}}
	lpars := entries(r.do("GET", "/api/cpcs/"+cpc1ID+"/logical-partitions?name=LP2", cpcTarget, "", 200, ""), "logical-partitions")
	if len(lpars) != 1 || lpars[0]["object-uri"] != "/api/logical-partitions/"+lp2ID || lpars[0]["target-name"] != lp2 || lpars[0]["request-origin"] != false {
		t.Fatalf("LPARs %v", lpars)
	}
	lpar := "/api/logical-partitions/" + lp2ID
	target := http.Header{"X-Api-Target-Name": {lp2}}
	r.md = []string{rpctypes.TargetKey, lp2}
	r.do("GET", lpar+"?properties=status&cached-acceptable=true", target, "", 200, `{"status":"not-activated"}`)
	r.do("GET", lpar+"?properties=next-activation-profile-name&cached-acceptable=true", target, "", 200, `{"next-activation-profile-name":"LP2"}`)
	job := jobURIOf(t, r.do("POST", lpar+"/operations/activate", target, `{"activation-profile-name":"LP2","force":true}`, 202, ""))
	r.job(job, target, `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`)
	r.do("GET", lpar+"?properties=status&cached-acceptable=true", target, "", 200, `{"status":"not-operating"}`)

	// RXAUDIT1's GetLocalCPCInfo.
	local := 0
	for _, c := range entries(r.do("GET", "/api/cpcs", nil, "", 200, ""), "cpcs") {
		switch c["location"] {
		case "local":
			local++
			if c["object-uri"] != "/api/cpcs/"+cpc1ID || c["target-name"] != cpc1 {
				t.Errorf("local CPC %v", c)
			}
		case "remote":
		default:
			t.Errorf("CPC without location: %v", c)
		}
	}
	if local != 1 {
		t.Errorf("%d local CPCs", local)
	}
	// The requester is the one LPAR with request-origin true.
	for _, l := range entries(r.do("GET", "/api/cpcs/"+cpc1ID+"/logical-partitions", cpcTarget, "", 200, ""), "logical-partitions") {
		if want := l["target-name"] == lp1; l["request-origin"] != want {
			t.Errorf("LPAR %v: request-origin want %v", l, want)
		}
	}
}
