package simse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxDepth bounds the nesting of an inventory document, so that a hostile
// file cannot exhaust the stack.
const maxDepth = 100

// parseDocument returns the root value of an inventory file as a YAML node
// tree, whether the file is YAML or JSON. JSON is read by encoding/json
// rather than the YAML parser because go-yaml does not accept every JSON
// document (the escape \/ for one); both end as the same kind of tree, so
// one walker checks them alike.
func parseDocument(data []byte) (*yaml.Node, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' && json.Valid(data) {
		return parseJSON(data)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the inventory is empty")
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("the inventory holds more than one YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("the inventory is empty")
	}
	return doc.Content[0], nil
}

// jsonParser turns a JSON document into a YAML node tree that keeps every
// number's text and every value's line.
type jsonParser struct {
	dec   *json.Decoder
	lines []int64 // offsets at which lines 2, 3, ... begin
}

func parseJSON(data []byte) (*yaml.Node, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			p.lines = append(p.lines, int64(i+1))
		}
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	return p.value(tok, 0)
}

// line is the line of the token just read.
func (p *jsonParser) line() int {
	off := p.dec.InputOffset() - 1
	n, _ := slices.BinarySearch(p.lines, off+1)
	return n + 1
}

func (p *jsonParser) value(tok json.Token, depth int) (*yaml.Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested more than %d levels deep", p.line(), maxDepth)
	}
	n := &yaml.Node{Line: p.line()}
	switch t := tok.(type) {
	case json.Delim:
		end := json.Delim('}')
		n.Kind, n.Tag = yaml.MappingNode, "!!map"
		if t == '[' {
			end = ']'
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		}
		for {
			tok, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			if tok == end {
				return n, nil
			}
			c, err := p.value(tok, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
	case string:
		n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", t, yaml.DoubleQuotedStyle
	case json.Number:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!int", t.String()
		if bytes.ContainsAny([]byte(n.Value), ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(t)
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	default:
		return nil, fmt.Errorf("line %d: unexpected JSON token %v", n.Line, tok)
	}
	return n, nil
}

// jsonNumber matches the number syntax of RFC 8259.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// renderJSON writes the YAML node n as compact JSON. Numbers written as
// JSON numbers keep their text exactly, however large or precise, because
// they are never converted to a Go number; other YAML spellings of numbers
// (0x1F, +5, 1_000, .5) are converted, exactly for integers.
func renderJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, n, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// nodeError is a problem with one node of job-results.
type nodeError struct {
	line int
	msg  string
}

func (e *nodeError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func nodeErrorf(n *yaml.Node, format string, args ...any) error {
	return &nodeError{line: n.Line, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return nodeErrorf(n, "nested more than %d levels deep", maxDepth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nodeErrorf(k, "a key must be a plain scalar")
			}
			if seen[k.Value] {
				return nodeErrorf(k, "key %q is given twice", k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k.Value)
			b.WriteByte(':')
			if err := writeJSON(b, v, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(b, n)
	case yaml.AliasNode:
		return nodeErrorf(n, "aliases are not supported")
	default:
		return nodeErrorf(n, "unexpected YAML node")
	}
	return nil
}

func writeScalar(b *bytes.Buffer, n *yaml.Node) error {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return nodeErrorf(n, "%q is not a boolean", n.Value)
		}
		b.WriteString(strconv.FormatBool(v))
	case "!!int":
		if jsonNumber.MatchString(n.Value) {
			b.WriteString(n.Value)
			return nil
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			b.WriteString(strconv.FormatInt(i, 10))
			return nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			b.WriteString(strconv.FormatUint(u, 10))
			return nil
		}
		return nodeErrorf(n, "%q is not an integer JSON can hold; write it in decimal", n.Value)
	case "!!float":
		if jsonNumber.MatchString(n.Value) {
			b.WriteString(n.Value)
			return nil
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nodeErrorf(n, "%q is not a number JSON can hold", n.Value)
		}
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case "!!str":
		// YAML reads a plain 1E400 as a number, but go-yaml calls any plain
		// number a float64 cannot hold a string.
		if n.Style == 0 && jsonNumber.MatchString(n.Value) {
			b.WriteString(n.Value)
			return nil
		}
		writeString(b, n.Value)
	case "!!timestamp", "!!binary":
		writeString(b, n.Value)
	default:
		return nodeErrorf(n, "the tag %s is not supported", tag)
	}
	return nil
}

// writeString writes s as a JSON string, leaving <, > and & as they are:
// job-results are data, not HTML.
func writeString(b *bytes.Buffer, s string) {
	var t bytes.Buffer
	enc := json.NewEncoder(&t)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(t.Bytes(), []byte("\n")))
}

// isJSONObject reports whether b is one well-formed JSON object.
func isJSONObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
