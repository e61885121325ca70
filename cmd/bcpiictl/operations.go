package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// operation is one operation of a kind of object, with the request body
// fields its flags set.
type operation struct {
	name, short string
	fields      []bodyField
	// path is the operation's name under .../operations/; "" means name.
	// clearPath, when set, is the one --clear selects instead.
	path, clearPath string
}

// pathFor is the operation the flags select.
func (op operation) pathFor(fs *pflag.FlagSet) string {
	if op.clearPath != "" {
		if clear, _ := fs.GetBool("clear"); clear {
			return op.clearPath
		}
	}
	if op.path != "" {
		return op.path
	}
	return op.name
}

// bodyField is a flag that sets a field of the request body.
type bodyField struct {
	flag, field, usage string
	boolean            bool
}

var forceField = bodyField{flag: "force", field: "force", usage: "act even if the logical partition is operating", boolean: true}

// operations are the operations of each kind, those the gateway's route
// table serves.
var operations = map[string][]operation{
	"lpar": {
		{name: "activate", short: "Activate a logical partition", fields: []bodyField{
			{flag: "activation-profile", field: "activation-profile-name", usage: "activation profile to use"}, forceField}},
		{name: "deactivate", short: "Deactivate a logical partition", fields: []bodyField{forceField}},
		{name: "load", short: "Load (IPL) a logical partition", fields: []bodyField{
			{flag: "load-address", field: "load-address", usage: "device address to load from"},
			{flag: "load-parameter", field: "load-parameter", usage: "load parameter"},
			{flag: "clear", field: "clear-indicator", usage: "clear main storage before loading", boolean: true},
			{flag: "store-status", field: "store-status-indicator", usage: "store status before loading", boolean: true},
			forceField}},
		{name: "stop", short: "Stop the processors of an activated logical partition"},
		{name: "start", short: "Start the processors of an activated logical partition"},
		{name: "reset", short: "Reset a logical partition (reset normal; reset clear with --clear)",
			path: "reset-normal", clearPath: "reset-clear", fields: []bodyField{forceField}},
		{name: "psw-restart", short: "Restart a logical partition's operating system (PSW restart)"},
	},
	"partition": {
		{name: "start", short: "Start a partition"},
		{name: "stop", short: "Stop a partition"},
	},
}

// body is the request body the flags that were given set, "" for none.
func (op operation) body(fs *pflag.FlagSet) string {
	m := map[string]any{}
	for _, f := range op.fields {
		fl := fs.Lookup(f.flag)
		if fl == nil || !fl.Changed {
			continue
		}
		if f.boolean {
			v, _ := fs.GetBool(f.flag)
			m[f.field] = v
		} else {
			m[f.field] = fl.Value.String()
		}
	}
	if len(m) == 0 {
		return ""
	}
	return string(marshal(m))
}

func (g *globals) operationCommand(k kind, op operation) *cobra.Command {
	var w waitFlags
	upper := strings.ToUpper(k.cmd)
	cmd := g.objectCommand(op.name+" CPC "+upper, op.short, 2, true, nil)
	cmd.Long = op.short + " by name: the gateway resolves CPC and " + upper + " to the object's URI and target name.\n" +
		"The command waits for the job with a live status line unless --no-wait is given.\n\n" + exitTable
	cmd.RunE = action(func(ctx context.Context, args []string) error {
		if err := w.check(); err != nil {
			return err
		}
		c, err := g.connect(ctx)
		if err != nil {
			return err
		}
		defer c.done()
		o, err := c.child(ctx, args[0], args[1], k)
		if err != nil {
			return err
		}
		r, err := c.invoke(ctx, "POST", o.uri()+"/operations/"+op.pathFor(cmd.Flags()), o.target(), op.body(cmd.Flags()))
		if err != nil {
			return err
		}
		return g.started(ctx, c, r, o.target(), w)
	})
	if op.clearPath != "" {
		cmd.Flags().Bool("clear", false, "clear main storage too ("+op.clearPath+")")
	}
	for _, f := range op.fields {
		if f.boolean {
			cmd.Flags().Bool(f.flag, false, f.usage)
		} else {
			cmd.Flags().String(f.flag, "", f.usage)
		}
	}
	w.add(cmd, true)
	return cmd
}

// started follows up an Invoke: the answer, or for an operation that
// started a job, the job, recorded with its target name and waited for
// unless told not to.
func (g *globals) started(ctx context.Context, c *client, r *bcpiiv1.InvokeResponse, target string, w waitFlags) error {
	if r.GetJobUri() == "" {
		body := r.GetBody()
		if body == "" {
			body = "{}"
		}
		return g.emit([]byte(body), func(out io.Writer) error {
			if r.GetBody() == "" {
				_, err := fmt.Fprintln(out, r.GetHttpStatus())
				return err
			}
			_, err := fmt.Fprintln(out, r.GetBody())
			return err
		})
	}
	id := jobID(r.GetJobUri())
	g.recordJob(id, target)
	doc := marshal(map[string]string{"job-uri": r.GetJobUri()})
	if !w.waits() {
		return g.emit(doc, func(out io.Writer) error {
			_, err := fmt.Fprintln(out, r.GetJobUri())
			return err
		})
	}
	return g.follow(ctx, c, id, target, w.timeout, false)
}

func (g *globals) invokeCommand() *cobra.Command {
	var target, body string
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "invoke METHOD URI",
		Short: "Send a raw HMC Web Services API request",
		Long: `Send one HMC Web Services API request, HWIREST-style, and print the answer's
body. For example:

  bcpiictl invoke GET /api/cpcs
  bcpiictl invoke POST /api/logical-partitions/ID/operations/activate --target IBM390PS.CPC1.LP2 --wait

An operation that starts a job prints the job's URI, or with --wait waits
for it.

` + exitTable,
		Args: nargs(2, "METHOD URI"),
		RunE: action(func(ctx context.Context, args []string) error {
			if err := checkTarget(target); err != nil {
				return err
			}
			if err := w.check(); err != nil {
				return err
			}
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			r, err := c.invoke(ctx, strings.ToUpper(args[0]), args[1], target, body)
			if err != nil {
				return err
			}
			return g.started(ctx, c, r, target, w)
		}),
	}
	cmd.Flags().StringVar(&target, "target", "", "X-API-Target-Name: the target name of the object the URI addresses")
	cmd.Flags().StringVar(&body, "body", "", "JSON request body")
	w.add(cmd, false)
	return cmd
}
