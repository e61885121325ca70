package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// ContentType is what the HMC answers JSON with, byte for byte.
const ContentType = "application/json;charset=UTF-8"

// marshaler renders the service's answers in the HMC's JSON; the empty
// answers of Cancel and Delete render as no body at all.
type marshaler struct{}

var _ runtime.Marshaler = marshaler{}

var (
	protoJSON   = protojson.MarshalOptions{EmitUnpopulated: true}
	protoUnJSON = protojson.UnmarshalOptions{DiscardUnknown: true}
)

func (marshaler) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *bcpiiv1.Job:
		return rpctypes.AppendJob(nil, m), nil
	case *bcpiiv1.CancelJobResponse, *bcpiiv1.DeleteJobResponse, *bcpiiv1.LogoffResponse:
		return nil, nil
	case proto.Message:
		return sortedJSON(m)
	}
	return json.Marshal(v)
}

// sortedJSON renders m with its JSON names, every field present, compact,
// keys in lexical order, as the HMC writes its objects.
func sortedJSON(m proto.Message) ([]byte, error) {
	b, err := protoJSON.Marshal(m)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil { // maps encode in key order
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (marshaler) Unmarshal(data []byte, v any) error {
	if m, ok := v.(proto.Message); ok {
		return protoUnJSON.Unmarshal(data, m)
	}
	return json.Unmarshal(data, v)
}

func (m marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return m.Unmarshal(data, v)
	})
}

func (m marshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

func (marshaler) ContentType(any) string { return ContentType }

// queryParm is one occurrence of a query parameter in an error body.
type queryParm struct {
	Name  string
	Value string
}

// errorBody is the HMC error object. Fields render in lexical key order.
type errorBody struct {
	BCPiiError      *bool
	HTTPStatus      int
	Message         string
	Reason          int
	AuthenticatedAs string // empty: absent
	Method          string
	URI             string
	QueryParms      []queryParm
}

func (e *errorBody) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if e.BCPiiError != nil {
		b = append(b, `"bcpii-error":`...)
		b = strconv.AppendBool(b, *e.BCPiiError)
		b = append(b, ',')
	}
	b = append(b, `"http-status":`...)
	b = strconv.AppendInt(b, int64(e.HTTPStatus), 10)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"reason":`...)
	b = strconv.AppendInt(b, int64(e.Reason), 10)
	if e.AuthenticatedAs != "" {
		b = append(b, `,"request-authenticated-as":`...)
		b = appendJSONString(b, e.AuthenticatedAs)
	}
	b = append(b, `,"request-method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"request-query-parms":[`...)
	for i, q := range e.QueryParms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, q.Name)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, q.Value)
		b = append(b, '}')
	}
	b = append(b, `],"request-uri":`...)
	b = appendJSONString(b, e.URI)
	return append(b, '}')
}

// appendJSONString quotes s as a JSON string, with no HTML escaping (the
// HMC writes "&" as "&"); invalid UTF-8 becomes U+FFFD so the body is
// always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// RawErrorAnswer is a whole HTTP/1.1 answer, status line to body, carrying
// the HMC error body of e for a request that the HTTP layer could not read
// as far as a handler: method and requestURI are what could be read of
// its request line ("" when nothing), and the connection closes after it.
// The listener answers with it where net/http would answer in plain text.
func RawErrorAnswer(e *hmcerr.Error, method, requestURI string) []byte {
	body := errorBody{HTTPStatus: e.HTTPStatus, Reason: e.Reason, Message: e.Message, Method: method, URI: requestURI}
	if _, query, ok := strings.Cut(requestURI, "?"); ok {
		body.QueryParms, _ = parseQuery(query)
	}
	b := body.appendJSON(make([]byte, 0, 256))
	head := "HTTP/1.1 " + strconv.Itoa(e.HTTPStatus) + " " + http.StatusText(e.HTTPStatus) + "\r\n" +
		"Cache-Control: no-cache\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n" +
		"Content-Type: " + ContentType + "\r\nServer: " + ServerName + "\r\n\r\n"
	return append([]byte(head), b...)
}
