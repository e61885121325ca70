package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// object is one item of a listing: object-uri, name, status, target-name
// and (CPCs) dpm-enabled.
type object map[string]any

func (o object) str(key string) string { s, _ := o[key].(string); return s }
func (o object) name() string          { return o.str("name") }
func (o object) uri() string           { return o.str("object-uri") }
func (o object) target() string        { return o.str("target-name") }
func (o object) dpm() bool             { b, _ := o["dpm-enabled"].(bool); return b }

// A kind of object under a CPC: how it is listed and named.
type kind struct {
	cmd        string // the command, "lpar" or "partition"
	key        string // the listing's key and URI collection
	noun       string // for messages
	dpm        bool   // whether its CPCs are in DPM mode
	otherCmd   string // the command of the other mode's kind
	otherNouns string
}

var (
	lparKind      = kind{cmd: "lpar", key: "logical-partitions", noun: "logical partition", otherCmd: "partition", otherNouns: "partitions"}
	partitionKind = kind{cmd: "partition", key: "partitions", noun: "partition", dpm: true, otherCmd: "lpar", otherNouns: "logical partitions"}
)

func (c *client) invoke(ctx context.Context, method, uri, target, body string) (*bcpiiv1.InvokeResponse, error) {
	cctx, cancel := c.call(ctx, target)
	defer cancel()
	r, err := c.ops.Invoke(cctx, &bcpiiv1.InvokeRequest{Method: method, Uri: uri, TargetName: target, Body: body})
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	return r, nil
}

// list runs a listing and returns its answer and items.
func (c *client) list(ctx context.Context, uri, target, key string) ([]byte, []object, error) {
	r, err := c.invoke(ctx, "GET", uri, target, "")
	if err != nil {
		return nil, nil, err
	}
	var doc map[string][]object
	if err := json.Unmarshal([]byte(r.GetBody()), &doc); err != nil {
		return nil, nil, fmt.Errorf("GET %s: the answer is not a listing: %w", uri, err)
	}
	return []byte(r.GetBody()), doc[key], nil
}

// find picks the object named name (exactly, else ignoring case).
func find(items []object, name, noun, where string) (object, error) {
	for _, it := range items {
		if it.name() == name {
			return it, nil
		}
	}
	for _, it := range items {
		if strings.EqualFold(it.name(), name) {
			return it, nil
		}
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name()
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no %s named %s%s: there are none", noun, name, where)
	}
	return nil, fmt.Errorf("no %s named %s%s; there are %s", noun, name, where, strings.Join(names, ", "))
}

func (c *client) cpc(ctx context.Context, name string) (object, error) {
	_, cpcs, err := c.list(ctx, "/api/cpcs", "", "cpcs")
	if err != nil {
		return nil, err
	}
	return find(cpcs, name, "CPC", "")
}

// children lists the objects of kind k under the CPC named cpcName.
func (c *client) children(ctx context.Context, cpcName string, k kind) ([]byte, []object, error) {
	cpc, err := c.cpc(ctx, cpcName)
	if err != nil {
		return nil, nil, err
	}
	if cpc.dpm() != k.dpm {
		mode := "classic"
		if cpc.dpm() {
			mode = "DPM"
		}
		return nil, nil, fmt.Errorf("%s is in %s mode: it has %s, not %ss (see 'bcpiictl %s list %s')",
			cpc.name(), mode, k.otherNouns, k.noun, k.otherCmd, cpc.name())
	}
	return c.list(ctx, cpc.uri()+"/"+k.key, cpc.target(), k.key)
}

func (c *client) child(ctx context.Context, cpcName, name string, k kind) (object, error) {
	_, items, err := c.children(ctx, cpcName, k)
	if err != nil {
		return nil, err
	}
	return find(items, name, k.noun, " in "+cpcName)
}

// objectCommand builds a command that resolves its arguments with one
// connection, then does its work.
func (g *globals) objectCommand(use, short string, n int, complete bool, do func(ctx context.Context, c *client, args []string) error) *cobra.Command {
	argsUse := ""
	if i := strings.Index(use, " "); i >= 0 {
		argsUse = use[i+1:]
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: nargs(n, argsUse),
		RunE: action(func(ctx context.Context, args []string) error {
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			return do(ctx, c, args)
		}),
	}
	if complete {
		cmd.ValidArgsFunction = g.completeNames(n)
	}
	return cmd
}

func (g *globals) objectCommands() []*cobra.Command {
	cpc := &cobra.Command{Use: "cpc", Short: "List and show CPCs"}
	cpc.AddCommand(
		g.objectCommand("list", "List the CPCs", 0, false, func(ctx context.Context, c *client, _ []string) error {
			body, items, err := c.list(ctx, "/api/cpcs", "", "cpcs")
			if err != nil {
				return err
			}
			return g.printListing("cpcs", body, items)
		}),
		g.objectCommand("show CPC", "Show a CPC's properties", 1, true, func(ctx context.Context, c *client, args []string) error {
			o, err := c.cpc(ctx, args[0])
			if err != nil {
				return err
			}
			return g.show(ctx, c, o)
		}),
	)
	return []*cobra.Command{cpc, g.kindCommand(lparKind), g.kindCommand(partitionKind)}
}

func (g *globals) show(ctx context.Context, c *client, o object) error {
	r, err := c.invoke(ctx, "GET", o.uri(), o.target(), "")
	if err != nil {
		return err
	}
	return g.printProperties([]byte(r.GetBody()))
}

// kindCommand is lpar or partition: list, show and the operations.
func (g *globals) kindCommand(k kind) *cobra.Command {
	short := "List, show, activate, deactivate, load, stop, start and reset logical partitions (classic mode)"
	if k.dpm {
		short = "List, show, start and stop partitions (DPM mode)"
	}
	upper := strings.ToUpper(k.cmd)
	cmd := &cobra.Command{Use: k.cmd, Short: short}
	cmd.AddCommand(
		g.objectCommand("list CPC", "List the "+k.noun+"s of a CPC", 1, true, func(ctx context.Context, c *client, args []string) error {
			body, items, err := c.children(ctx, args[0], k)
			if err != nil {
				return err
			}
			return g.printListing(k.key, body, items)
		}),
		g.objectCommand("show CPC "+upper, "Show a "+k.noun+"'s properties", 2, true, func(ctx context.Context, c *client, args []string) error {
			o, err := c.child(ctx, args[0], args[1], k)
			if err != nil {
				return err
			}
			return g.show(ctx, c, o)
		}),
	)
	for _, op := range operations[k.cmd] {
		cmd.AddCommand(g.operationCommand(k, op))
	}
	return cmd
}

// completeNames completes CPC names (first argument) and the names under
// the CPC (second), asking the gateway.
func (g *globals) completeNames(n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		c, err := g.connect(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		defer c.done()
		var items []object
		if len(args) == 0 {
			_, items, err = c.list(ctx, "/api/cpcs", "", "cpcs")
		} else {
			k := lparKind
			if cmd.Parent().Name() == partitionKind.cmd {
				k = partitionKind
			}
			_, items, err = c.children(ctx, args[0], k)
		}
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names := make([]cobra.Completion, len(items))
		for i, it := range items {
			names[i] = it.name()
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
