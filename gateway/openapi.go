package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// OpenAPITitle is the title of the OpenAPI document.
const OpenAPITitle = "bcpii-gateway: the IBM Z HMC Web Services job API and its BCPii form"

// openAPIDocument makes the OpenAPI 3.1 document of every path the gateway
// serves from the OpenAPI v2 document generated from proto/ (the job,
// session and version requests) and the gateway's routes: the requests of
// bcpii's route table (listings, properties, activation profiles, the
// console, the operations that start jobs) and the event streams, which
// reach the service another way than grpc-gateway. Every operation has an
// operationId, the security schemes by which a caller is known, and the
// HMC error body as the schema of its error answers.
func openAPIDocument(generated []byte, routes []*route) ([]byte, error) {
	var v2 struct {
		Tags        []any                                `json:"tags"`
		Paths       map[string]map[string]map[string]any `json:"paths"`
		Definitions map[string]any                       `json:"definitions"`
	}
	if err := json.Unmarshal(generated, &v2); err != nil {
		return nil, fmt.Errorf("gateway: the OpenAPI document: %w", err)
	}
	schemas := map[string]any{"HMCError": hmcErrorSchema()}
	for name, s := range v2.Definitions {
		schemas[name] = v3Refs(s)
	}
	paths := map[string]any{}
	ids := map[string]bool{}
	for path, item := range v2.Paths {
		out := map[string]any{}
		for method, op := range item {
			out[method] = v3Operation(op, ids)
		}
		paths[path] = out
	}
	table := map[string]bcpii.Route{}
	for _, r := range bcpii.Routes() {
		table[r.Method+" "+r.Pattern] = r
	}
	for _, rt := range routes {
		item, _ := paths[rt.pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.pattern] = item
		}
		for _, method := range sortedMethods(rt.methods) {
			if _, ok := item[strings.ToLower(method)]; ok {
				continue
			}
			item[strings.ToLower(method)] = operationDoc(rt, method, rt.methods[method], table[method+" "+rt.pattern], ids)
		}
	}
	pruneSchemas(schemas, paths)
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   OpenAPITitle,
			"version": version.Get().Version,
			"description": "The HMC Web Services API's job requests and the BCPii requests, on the HMC's wire format: " +
				"paths, JSON, status and reason codes, error bodies. A caller is an API user (the X-API-Session of a logon), " +
				"a partition by its client certificate, or the gateway's own partition over its Unix socket or loopback.",
			"license": map[string]any{"name": "Apache License 2.0", "identifier": "Apache-2.0"},
		},
		"servers": []any{map[string]any{
			"url":         "https://{host}:{port}",
			"description": "the gateway's REST listener (--rest-addr)",
			"variables": map[string]any{
				"host": map[string]any{"default": "localhost"},
				"port": map[string]any{"default": "6794"},
			},
		}},
		"tags":       append(v2.Tags, map[string]any{"name": "HMC", "description": "HMC Web Services API requests of the object model and the BCPii surface"}),
		"paths":      paths,
		"components": components(schemas),
		// The empty requirement is the gateway's own partition, known by
		// the Unix socket or loopback rather than by a credential.
		"security": []any{map[string]any{"apiSession": []any{}}, map[string]any{"partitionCertificate": []any{}}, map[string]any{}},
	}
	return json.Marshal(doc)
}

// components are the document's schemas, its error answer and its
// security schemes.
func components(schemas map[string]any) map[string]any {
	return map[string]any{
		"schemas": schemas,
		"responses": map[string]any{
			"HMCError": map[string]any{
				"description": "an HMC error body",
				"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/HMCError"}}},
			},
		},
		"securitySchemes": map[string]any{
			"apiSession": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Session",
				"description": "the api-session of an API user's logon (POST /api/sessions)"},
			"partitionCertificate": map[string]any{"type": "mutualTLS",
				"description": "a client certificate that chains to the gateway's --client-ca and names a partition (URI SAN urn:bcpii:partition:NETID.NAU.LPAR)"},
		},
	}
}

// hmcErrorSchema is the HMC error body (errorBody); its description lists
// every status.reason of the error catalogue, and the outcomes a failed
// job ends with.
func hmcErrorSchema() map[string]any {
	var b strings.Builder
	b.WriteString("The HMC error body. The status.reason pairs the gateway answers:\n\n")
	for _, e := range hmcerr.Catalogue() {
		fmt.Fprintf(&b, "- %d.%d: %s (%s)\n", e.Err.HTTPStatus, e.Err.Reason, e.When, e.RaisedBy)
	}
	b.WriteString("\nA failed job is no error of its requests: it ends with job-status-code and job-reason-code\n\n")
	for _, o := range hmcerr.JobOutcomes() {
		fmt.Fprintf(&b, "- %d.%d: %s\n", o.StatusCode, o.ReasonCode, o.When)
	}
	schema := maps.Clone(hmcErrorSchemaBase)
	schema["description"] = b.String()
	return schema
}

var hmcErrorSchemaBase = map[string]any{
	"type":     "object",
	"required": []any{"http-status", "reason", "message", "request-method", "request-uri", "request-query-parms"},
	"properties": map[string]any{
		"http-status":              map[string]any{"type": "integer", "description": "the HTTP status"},
		"reason":                   map[string]any{"type": "integer", "description": "the HMC reason code"},
		"message":                  map[string]any{"type": "string"},
		"bcpii-error":              map[string]any{"type": "boolean", "description": "on BCPii requests: the error is the BCPii layer's"},
		"request-authenticated-as": map[string]any{"type": "string"},
		"request-method":           map[string]any{"type": "string"},
		"request-uri":              map[string]any{"type": "string"},
		"request-query-parms": map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}, "value": map[string]any{"type": "string"}},
		}},
	},
}

// errorResponses are the error answers of every operation.
func errorResponses(responses map[string]any) {
	ref := map[string]any{"$ref": "#/components/responses/HMCError"}
	for _, code := range []string{"400", "403", "404", "409", "503"} {
		responses[code] = ref
	}
	responses["default"] = ref
}

// v3Operation turns an OpenAPI v2 operation of the generated document
// into 3.1.
func v3Operation(op map[string]any, ids map[string]bool) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"summary", "description", "operationId", "tags"} {
		if v, ok := op[k]; ok {
			out[k] = v
		}
	}
	if id, _ := out["operationId"].(string); id != "" {
		ids[id] = true
	}
	var params []any
	params0, _ := op["parameters"].([]any)
	for _, p := range params0 {
		p, _ := p.(map[string]any)
		if p["in"] == "body" {
			out["requestBody"] = map[string]any{
				"required": p["required"] == true,
				"content":  map[string]any{"application/json": map[string]any{"schema": v3Refs(p["schema"])}},
			}
			continue
		}
		q := map[string]any{"name": p["name"], "in": p["in"], "required": p["required"] == true}
		if d, ok := p["description"]; ok {
			q["description"] = d
		}
		schema := map[string]any{}
		for _, k := range []string{"type", "format", "items", "enum", "default"} {
			if v, ok := p[k]; ok {
				schema[k] = v3Refs(v)
			}
		}
		q["schema"] = schema
		params = append(params, q)
	}
	if len(params) > 0 {
		out["parameters"] = params
	}
	responses := map[string]any{}
	resp0, _ := op["responses"].(map[string]any)
	for code, r := range resp0 {
		r, _ := r.(map[string]any)
		if code == "default" || !strings.HasPrefix(code, "2") {
			continue
		}
		res := map[string]any{"description": r["description"]}
		if s, ok := r["schema"]; ok {
			res["content"] = map[string]any{"application/json": map[string]any{"schema": v3Refs(s)}}
		}
		responses[code] = res
	}
	errorResponses(responses)
	out["responses"] = responses
	return out
}

// v3Refs rewrites the v2 schema references of v into 3.1's.
func v3Refs(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out[k] = strings.Replace(s, "#/definitions/", "#/components/schemas/", 1)
				continue
			}
			out[k] = v3Refs(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = v3Refs(e)
		}
		return out
	}
	return v
}

func sortedMethods(m map[string]method) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// operationID is the HMC name of a request in lower camel case ("Get CPC
// Properties": getCPCProperties), or one made of the method and the path,
// unique in the document.
func operationID(name, method, pattern string, ids map[string]bool) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		words = []string{strings.ToLower(method)}
		for _, seg := range strings.Split(pattern, "/") {
			seg = strings.Trim(seg, "{}")
			words = append(words, strings.FieldsFunc(seg, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })...)
		}
	}
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
			b.WriteString(strings.ToLower(w[:1]) + w[1:])
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	id := b.String()
	for n := 2; ids[id]; n++ {
		id = fmt.Sprintf("%s%d", b.String(), n)
	}
	ids[id] = true
	return id
}

func operationDoc(rt *route, method string, m method, r bcpii.Route, ids map[string]bool) map[string]any {
	name := r.Name
	var params []any
	for _, seg := range rt.segments {
		if p, ok := strings.CutPrefix(seg, "{"); ok {
			params = append(params, map[string]any{"name": strings.TrimSuffix(p, "}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
	}
	for _, q := range m.query {
		params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
	}
	if strings.HasPrefix(rt.pattern, "/api/cpcs/") || strings.HasPrefix(rt.pattern, "/api/logical-partitions/") ||
		strings.HasPrefix(rt.pattern, "/api/partitions/") || strings.HasPrefix(rt.pattern, "/api/jobs/") {
		params = append(params, map[string]any{"name": "X-API-Target-Name", "in": "header", "required": false, "schema": map[string]any{"type": "string"},
			"description": "the target of a BCPii request: NETID.NAU or NETID.NAU.LPARNAME"})
	}
	summary := name
	switch {
	case m.events && rt.pattern == JobCompletionsPath:
		summary, name = "Server-Sent Events of the completions of the caller's jobs", "Watch Job Completions"
	case m.events:
		summary, name = "Server-Sent Events of a job", "Watch Job Events"
	case rt.pattern == OpenAPIPath:
		summary, name = "this document", "Get OpenAPI Document"
	case summary == "":
		summary = method + " " + rt.pattern
	}
	op := map[string]any{
		"summary":     summary,
		"operationId": operationID(name, method, rt.pattern, ids),
		"tags":        []any{"HMC"},
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if m.body != noBody {
		op["requestBody"] = map[string]any{"required": m.bodyRequired,
			"content": map[string]any{"application/json": map[string]any{"schema": bodySchema(r.Body)}}}
	}
	responses := map[string]any{}
	switch {
	case m.events:
		responses["200"] = map[string]any{"description": "status and job-completion events",
			"content": map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}}
	case r.Action != "" && !r.Sync:
		responses["202"] = map[string]any{"description": "the job started",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "properties": map[string]any{"job-uri": map[string]any{"type": "string", "description": "/api/jobs/{job-id}"}},
			}}}}
	default:
		responses["200"] = map[string]any{"description": "the answer, as the HMC gives it",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		if method != http.MethodGet {
			responses["204"] = map[string]any{"description": "done; no body"}
		}
	}
	errorResponses(responses)
	op["responses"] = responses
	if m.public {
		op["security"] = []any{map[string]any{}}
	}
	return op
}

// pruneSchemas drops the schemas no path refers to, directly or through
// another schema (grpc-gateway's response wrappers where the answer is a
// field of the message).
func pruneSchemas(schemas map[string]any, paths map[string]any) {
	used := map[string]bool{"HMCError": true}
	queue := []any{paths}
	for len(queue) > 0 {
		b, _ := json.Marshal(queue[0])
		queue = queue[1:]
		for name, s := range schemas {
			if !used[name] && strings.Contains(string(b), `"#/components/schemas/`+name+`"`) {
				used[name] = true
				queue = append(queue, s)
			}
		}
	}
	for name := range schemas {
		if !used[name] {
			delete(schemas, name)
		}
	}
}

// bodySchema is the schema of a request body with the route's fields;
// others are accepted.
func bodySchema(fields []bcpii.BodyField) map[string]any {
	schema := map[string]any{"type": "object"}
	if len(fields) == 0 {
		return schema
	}
	props := map[string]any{}
	var required []any
	for _, f := range fields {
		p := map[string]any{"type": f.Type}
		if f.Type == "integer" {
			p["minimum"] = 0
		}
		props[f.Name] = p
		if f.Required {
			required = append(required, f.Name)
		}
	}
	schema["properties"] = props
	if required != nil {
		schema["required"] = required
	}
	return schema
}
