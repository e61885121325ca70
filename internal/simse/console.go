package simse

import (
	"bytes"
	"encoding/json"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// consoleProperties are the console's properties (Get Console
// Properties): the console the gateway stands for, as Query API Version
// names it.
func consoleProperties(v bcpii.ConsoleVersion) map[string]any {
	return map[string]any{
		"class": "console", "name": v.Name, "object-uri": "/api/console", "object-id": "console",
		"description": "The simulated Support Element of bcpii-gateway",
		"version":     v.Version, "status": "active", "is-primary": true,
		"api-major-version": v.APIMajor, "api-minor-version": v.APIMinor,
	}
}

// createMetricsContext answers Create Metrics Context as an HMC does, with
// a metrics-context-uri and a metric-group-infos entry per group asked for.
// The simulated SE collects no metrics, so each group lists no metrics,
// and the context is not kept: its URI answers 404.1.
func createMetricsContext(body []byte) (bcpii.OperationResponse, error) {
	var req struct {
		Frequency *json.Number `json:"anticipated-frequency-seconds"`
		Groups    []string     `json:"metric-groups"`
	}
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return bcpii.OperationResponse{}, hmcerr.ErrBodyMissing
	}
	if !json.Valid(t) {
		return bcpii.OperationResponse{}, errBadJSON
	}
	if err := json.Unmarshal(t, &req); err != nil {
		return bcpii.OperationResponse{}, hmcerr.ErrInvalidField.WithMessage("The request body must be an object with anticipated-frequency-seconds (a number) and metric-groups (a list of names).")
	}
	if req.Frequency == nil {
		return bcpii.OperationResponse{}, hmcerr.ErrFieldMissing.WithMessage("The request body lacks the required field \"anticipated-frequency-seconds\".")
	}
	if n, err := req.Frequency.Int64(); err != nil || n < 15 || n > 3600 {
		return bcpii.OperationResponse{}, hmcerr.ErrInvalidField.WithMessage("The field anticipated-frequency-seconds must be an integer from 15 to 3600.")
	}
	infos := []map[string]any{}
	for _, g := range req.Groups {
		infos = append(infos, map[string]any{"group-name": g, "metric-infos": []any{}})
	}
	b, err := json.Marshal(map[string]any{
		"metrics-context-uri": "/api/services/metrics/context/" + jobs.NewID(),
		"metric-group-infos":  infos,
	})
	if err != nil {
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	return bcpii.OperationResponse{Status: 200, Body: b}, nil
}
