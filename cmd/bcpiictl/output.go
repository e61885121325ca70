package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// emit prints a JSON document as -o asks: json as it is (the HMC's own
// rendering, one line), yaml converted, table by table.
func (g *globals) emit(doc []byte, table func(w io.Writer) error) error {
	switch g.output {
	case "json":
		_, err := fmt.Fprintf(g.env.stdout, "%s\n", bytes.TrimSpace(doc))
		return err
	case "yaml":
		y, err := toYAML(doc)
		if err != nil {
			return err
		}
		_, err = g.env.stdout.Write(y)
		return err
	}
	tw := tabwriter.NewWriter(g.env.stdout, 0, 0, 2, ' ', 0)
	if err := table(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// toYAML converts JSON text to block-style YAML, keeping the order of
// keys (the HMC's lexical order) and the types of values.
func toYAML(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("the gateway's answer is not JSON: %w", err)
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(&n); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// marshal renders v as compact JSON with keys in lexical order (maps are
// sorted), without escaping HTML characters, like the HMC.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err) // only maps of strings and raw JSON are marshaled
	}
	return bytes.TrimSpace(b.Bytes())
}

// jobFields are a job's HMC fields, keyed by their HMC names.
func jobFields(j *bcpiiv1.Job) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rpctypes.AppendJob(nil, j), &m); err != nil {
		panic(err) // AppendJob always writes a JSON object
	}
	return m
}

func rawString(s string) json.RawMessage { return marshal(s) }

// A job row: fixed widths, so that rows can be printed as status changes
// arrive and still line up under the header.
const jobRowFormat = "%-36s  %-14s  %-6s  %s\n"

func jobHeader(w io.Writer) {
	fmt.Fprintf(w, jobRowFormat, "JOB-ID", "STATUS", "CODE", "RESULTS")
}

func jobRow(w io.Writer, id string, j *bcpiiv1.Job) {
	results := ""
	if j.JobResults != nil {
		results = string(marshalRaw(j.GetJobResults()))
	}
	row := fmt.Sprintf(jobRowFormat, id, rpctypes.StatusName(j.GetStatus()), jobCode(j), results)
	fmt.Fprintln(w, strings.TrimRight(row, " \n"))
}

// marshalRaw compacts JSON text, or quotes text that is not JSON.
func marshalRaw(s string) []byte {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return marshal(s)
	}
	return b.Bytes()
}

// jobCode is the job's status and reason code, "409.1", "200" or "".
func jobCode(j *bcpiiv1.Job) string {
	if j.JobStatusCode == nil {
		return ""
	}
	s := fmt.Sprint(j.GetJobStatusCode())
	if j.JobReasonCode != nil {
		s += fmt.Sprintf(".%d", j.GetJobReasonCode())
	}
	return s
}

// printJob prints one job's status: the HMC's Query Job Status body for
// json and yaml, a row under a header for table.
func (g *globals) printJob(id string, j *bcpiiv1.Job) error {
	return g.emit(rpctypes.AppendJob(nil, j), func(w io.Writer) error {
		jobHeader(w)
		jobRow(w, id, j)
		return nil
	})
}

// objectColumns are the table columns of each listing, by the key of the
// listing's array.
var objectColumns = map[string][]string{
	"cpcs":               {"name", "status", "dpm-enabled", "target-name", "object-uri"},
	"logical-partitions": {"name", "status", "target-name", "object-uri"},
	"partitions":         {"name", "status", "target-name", "object-uri"},
}

// printListing prints a listing the gateway answered, {"KEY":[...]}.
func (g *globals) printListing(key string, body []byte, items []object) error {
	return g.emit(body, func(w io.Writer) error {
		cols := objectColumns[key]
		fmt.Fprintln(w, strings.ToUpper(strings.Join(cols, "\t")))
		for _, it := range items {
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = cell(it[c])
			}
			fmt.Fprintln(w, strings.Join(cells, "\t"))
		}
		return nil
	})
}

// printProperties prints an object's properties, one a row, sorted.
func (g *globals) printProperties(body []byte) error {
	var props map[string]any
	if err := json.Unmarshal(body, &props); err != nil {
		return fmt.Errorf("the gateway's answer is not a JSON object: %w", err)
	}
	return g.emit(body, func(w io.Writer) error {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "PROPERTY\tVALUE")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\n", k, cell(props[k]))
		}
		return nil
	})
}

// cell renders a JSON value for a table: strings bare, booleans yes/no,
// anything else as JSON.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	}
	return string(marshal(v))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
