package gateway

import (
	"net/http"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// HTTPRule is a REST request the service's google.api.http annotations
// declare: the one place its method and path are written.
type HTTPRule struct {
	// Method is the HTTP method; Path the HMC's path, its variables
	// spelled as the HMC spells them ("{job-id}").
	Method, Path string
	// RPC is the full gRPC method, "/bcpii.v1.JobService/GetJob".
	RPC string
}

// restServices are the services grpc-gateway serves over REST.
var restServices = []string{
	bcpiiv1.JobService_ServiceDesc.ServiceName, bcpiiv1.SessionService_ServiceDesc.ServiceName,
}

var protoVariable = regexp.MustCompile(`\{[a-z_]+\}`)

// HTTPRules lists the google.api.http rules of the REST services.
func HTTPRules() []HTTPRule {
	var rules []HTTPRule
	for _, name := range restServices {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			panic("gateway: the service " + name + " is not registered: " + err.Error())
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			verb, path := ruleMethod(rule)
			if verb == "" {
				continue
			}
			path = protoVariable.ReplaceAllStringFunc(path, func(v string) string { return strings.ReplaceAll(v, "_", "-") })
			rules = append(rules, HTTPRule{Method: verb, Path: path, RPC: "/" + name + "/" + string(m.Name())})
		}
	}
	return rules
}

func ruleMethod(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	}
	return "", ""
}

// ruleRoutes are the routes of the http rules: each rule's path and method
// with what the gateway adds to it (its checks, the job-id rule, a local
// answer), keyed by RPC in extras. Whether a request needs no identity is
// the service's word (server.Unauthenticated).
func ruleRoutes(extras map[string]method) []*route {
	var t routeTable
	for _, r := range HTTPRules() {
		m, ok := extras[r.RPC]
		if !ok {
			panic("gateway: no checks declared for the REST request of " + r.RPC)
		}
		m.rpc = r.RPC
		m.public = server.Unauthenticated(r.RPC)
		t.add(r.Path, r.Method, m)
	}
	return t.routes
}
