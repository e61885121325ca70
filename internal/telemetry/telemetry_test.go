package telemetry

import "testing"

func TestOperationName(t *testing.T) {
	for op, want := range map[string]string{
		"POST /api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate": "logical-partition.activate",
		"POST /api/partitions/x/operations/stop?force=true":                                     "partition.stop",
		"POST /api/cpcs/abc/operations/start":                                                   "cpc.start",
		"GET /api/cpcs/abc":                                                                     "other",
		"POST /api/IBM390PS.CPC1.LP1":                                                           "other",
		"POST /api/test":                                                                        "other",
		"":                                                                                      "other",
	} {
		if got := OperationName(op); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", op, got, want)
		}
	}
}
