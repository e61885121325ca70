package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// OpenAPITitle is the title of the OpenAPI document.
const OpenAPITitle = "bcpii-gateway: the IBM Z HMC Web Services job API and its BCPii form"

// openAPIDocument completes the document generated from proto/ (the job,
// session and version requests) into one of every path the gateway
// serves: it adds the requests of bcpii's route table (listings,
// properties, activation profiles, the console, the operations that start
// jobs) and the event streams, which reach the service another way than
// grpc-gateway, and gives it a title and the gateway's version.
func openAPIDocument(generated []byte, routes []*route) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(generated, &doc); err != nil {
		return nil, fmt.Errorf("gateway: the OpenAPI document: %w", err)
	}
	doc["info"] = map[string]any{"title": OpenAPITitle, "version": version.Get().Version}
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		doc["paths"] = paths
	}
	names := map[string]string{}
	for _, r := range bcpii.Routes() {
		names[r.Method+" "+r.Pattern] = r.Name
	}
	for _, rt := range routes {
		item, _ := paths[rt.pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.pattern] = item
		}
		for method, m := range rt.methods {
			if _, ok := item[strings.ToLower(method)]; ok {
				continue
			}
			item[strings.ToLower(method)] = operationDoc(rt, method, m, names[method+" "+rt.pattern])
		}
	}
	return json.Marshal(doc)
}

func operationDoc(rt *route, method string, m method, name string) map[string]any {
	var params []any
	for _, seg := range rt.segments {
		if p, ok := strings.CutPrefix(seg, "{"); ok {
			params = append(params, map[string]any{"name": strings.TrimSuffix(p, "}"), "in": "path", "required": true, "type": "string"})
		}
	}
	for _, q := range m.query {
		params = append(params, map[string]any{"name": q, "in": "query", "required": false, "type": "string"})
	}
	if strings.HasPrefix(rt.pattern, "/api/cpcs/") || strings.HasPrefix(rt.pattern, "/api/logical-partitions/") ||
		strings.HasPrefix(rt.pattern, "/api/partitions/") || strings.HasPrefix(rt.pattern, "/api/jobs/") {
		params = append(params, map[string]any{"name": "X-API-Target-Name", "in": "header", "required": false, "type": "string",
			"description": "the target of a BCPii request: NETID.NAU or NETID.NAU.LPARNAME"})
	}
	if m.body != noBody {
		params = append(params, map[string]any{"name": "body", "in": "body", "required": m.bodyRequired, "schema": map[string]any{"type": "object"}})
	}
	op := map[string]any{
		"summary":    name,
		"parameters": append([]any{}, params...),
		"responses": map[string]any{
			"default": map[string]any{"description": "an HMC error body: http-status, reason, message, request-method, request-uri, request-query-parms"},
		},
	}
	responses := op["responses"].(map[string]any)
	switch {
	case m.events:
		op["summary"] = "Server-Sent Events of jobs"
		op["produces"] = []string{"text/event-stream"}
		responses["200"] = map[string]any{"description": "status and job-completion events"}
	case method == http.MethodPost && slices.Contains(strings.Split(rt.pattern, "/"), "operations") && name != "":
		responses["202"] = map[string]any{"description": `the job started: {"job-uri":"/api/jobs/{job-id}"}`}
	default:
		responses["200"] = map[string]any{"description": "the answer, as the HMC gives it"}
	}
	if name == "" && rt.pattern == OpenAPIPath {
		op["summary"] = "this document"
	}
	return op
}
