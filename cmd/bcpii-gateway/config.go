package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// notSettings are the flags that are not settings: no variable or key sets
// them.
var notSettings = map[string]bool{"help": true, "version": true, "config": true}

// configure sets every flag the command line left alone from the
// environment (BCPII_<FLAG>), then what is still unset from the --config
// file (BCPII_CONFIG): a flag wins over the environment, the environment
// over the file, the file over the default.
func configure(fs *pflag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		name := envName(f.Name)
		if f.Name == "config" {
			name = "BCPII_CONFIG"
		} else if notSettings[f.Name] {
			return
		}
		v := getenv(name)
		if set[f.Name] || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		set[f.Name] = true
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	path := fs.Lookup("config").Value.String()
	if path == "" {
		return nil
	}
	settings, err := readConfig(path, fs)
	if err != nil {
		return err
	}
	for _, s := range settings {
		if set[s.name] {
			continue
		}
		if err := fs.Set(s.name, s.value); err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %s: %w", path, s.line, s.name, err))
		}
	}
	return errors.Join(errs...)
}

type setting struct {
	name, value string
	line        int
}

// readConfig reads a YAML mapping of flag names to values: scalars, or
// for a flag that takes a comma-separated list, a sequence.
func readConfig(path string, fs *pflag.FlagSet) ([]setting, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	return parseConfig(path, b, fs)
}

func parseConfig(path string, b []byte, fs *pflag.FlagSet) ([]setting, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s line %d: not a mapping of settings (rest-addr: \":6794\")", path, m.Line)
	}
	var out []setting
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		f := fs.Lookup(k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			return nil, fmt.Errorf("%s line %d: a key is a name", path, k.Line)
		case f == nil || notSettings[k.Value]:
			return nil, fmt.Errorf("%s line %d: %q is not a setting%s", path, k.Line, k.Value, nearest(fs, k.Value, "; did you mean %s?"))
		case seen[k.Value]:
			return nil, fmt.Errorf("%s line %d: %s is set twice", path, k.Line, k.Value)
		}
		seen[k.Value] = true
		var value string
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("%s line %d: %s has no value", path, v.Line, k.Value)
			}
			value = v.Value
		case yaml.SequenceNode:
			if f.Name != "etcd-endpoints" {
				return nil, fmt.Errorf("%s line %d: %s takes one value, not a list", path, v.Line, k.Value)
			}
			var items []string
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s line %d: %s: a list of values", path, item.Line, k.Value)
				}
				items = append(items, item.Value)
			}
			value = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%s line %d: %s: not a value", path, v.Line, k.Value)
		}
		out = append(out, setting{name: k.Value, value: value, line: k.Line})
	}
	return out, nil
}

// suggestFlag names the flag nearest the unknown one in a flag error.
func suggestFlag(fs *pflag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		return nearest(fs, name, "; did you mean --%s?")
	}
	// Go's flag package took -name as well; pflag reads it as shorthands.
	if i := strings.Index(msg, "' in -"); strings.HasPrefix(msg, "unknown shorthand flag: ") && i >= 0 {
		name, _, _ := strings.Cut(msg[i+len("' in -"):], "=")
		if fs.Lookup(name) != nil {
			return "; flags take two dashes: --" + name
		}
		return nearest(fs, name, "; did you mean --%s?")
	}
	return ""
}

// nearest formats the flag whose name is within two edits of name, or has
// it as a prefix, or "".
func nearest(fs *pflag.FlagSet, name, format string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf(format, best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
