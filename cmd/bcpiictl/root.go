package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// globals are the settings every command shares: the connection to the
// gateway and the output format.
type globals struct {
	addr, socket, ca, cert, key string
	plaintext                   bool
	user, session               string
	output                      string
	env                         environ
	// certFailure is what the last TLS handshake refused, for the error
	// message; see tlsConfig.
	certFailure *certFailure
}

const rootLong = `bcpiictl starts operations on CPCs, logical partitions and partitions by
name and follows the jobs they start, through a bcpii-gateway.

Names are resolved through the gateway: 'bcpiictl lpar activate CPC1 LP2'
lists the CPCs, finds CPC1, lists its logical partitions, finds LP2, and
activates it with LP2's own target name. Operations wait for their job
with a live status line unless --no-wait is given; job commands find the
target name of a job that bcpiictl started from a local record, so
--target is rarely needed.

Output: -o table (the default, with headers), json (the HMC's JSON as the
gateway answers it) or yaml.

` + exitTable

func newRoot(env environ) *cobra.Command {
	g := &globals{env: env}
	root := &cobra.Command{
		Use:           "bcpiictl",
		Short:         "The command-line client of bcpii-gateway",
		Long:          rootLong,
		Version:       version.Get().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(env.stderr)
			_ = cmd.Help()
			return usagef("no command")
		},
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.validate() },
	}
	root.SetVersionTemplate("bcpiictl {{.Version}}\n")
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	g.flags(root)
	root.AddGroup(&cobra.Group{ID: "objects", Title: "Objects, by name:"},
		&cobra.Group{ID: "jobs", Title: "Jobs:"}, &cobra.Group{ID: "session", Title: "Sessions and raw requests:"})
	root.SetHelpCommandGroupID("session")
	root.SetCompletionCommandGroupID("session")
	for _, c := range g.objectCommands() {
		c.GroupID = "objects"
		root.AddCommand(c)
	}
	for _, c := range g.jobCommands() {
		c.GroupID = "jobs"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{g.logonCommand(), g.logoffCommand(), g.invokeCommand()} {
		c.GroupID = "session"
		root.AddCommand(c)
	}
	return root
}

func (g *globals) flags(root *cobra.Command) {
	getenv := g.env.getenv
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr(getenv, "BCPII_ADDR", "localhost:6795"), "the gateway's gRPC address, host:port (env BCPII_ADDR)")
	pf.StringVar(&g.socket, "socket", getenv("BCPII_SOCKET"), "the gateway's Unix socket, instead of --addr (env BCPII_SOCKET)")
	pf.StringVar(&g.ca, "ca", getenv("BCPII_CA"), "PEM CA file to trust (env BCPII_CA; default: the certificate a gateway on this host generated)")
	pf.StringVar(&g.cert, "cert", getenv("BCPII_CERT"), "client certificate for mTLS, naming the requesting partition (env BCPII_CERT)")
	pf.StringVar(&g.key, "key", getenv("BCPII_KEY"), "private key of --cert (env BCPII_KEY)")
	pf.BoolVar(&g.plaintext, "plaintext", false, "connect without TLS, to a gateway run with --plaintext")
	pf.StringVar(&g.user, "user", getenv("BCPII_USER"), "log on for this command as this API user, password from BCPII_PASSWORD (env BCPII_USER)")
	pf.StringVar(&g.session, "session", getenv("BCPII_SESSION"), "an API session id (env BCPII_SESSION; default: the one 'bcpiictl logon' kept)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
}

func (g *globals) validate() error {
	switch g.output {
	case "table", "json", "yaml":
	default:
		return usagef("-o must be table, json or yaml, not %q", g.output)
	}
	if (g.cert == "") != (g.key == "") {
		return usagef("--cert and --key go together")
	}
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// action adapts a command's work to cobra: usage errors stay usage
// errors, anything else is a failure of the command.
func action(f func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd.Context(), args)
		var ue usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return failure{err}
	}
}

// nargs wants exactly the arguments named in use, e.g. "CPC LPAR".
func nargs(n int, use string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usagef("%s takes no arguments", cmd.CommandPath())
			}
			return usagef("%s takes %d argument(s): %s", cmd.CommandPath(), n, use)
		}
		return nil
	}
}

// checkTarget refuses a malformed --target before anything is sent.
func checkTarget(target string) error {
	if target == "" {
		return nil
	}
	if err := rpctypes.CheckTargetName(target); err != nil {
		return usagef("--target: %v", err)
	}
	return nil
}

// waitFlags are the flags of every command that starts an operation.
type waitFlags struct {
	wait, noWait bool
	timeout      time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command, defaultWait bool) {
	f := cmd.Flags()
	if defaultWait {
		f.BoolVar(&w.wait, "wait", true, "wait for the job to end, with a live status line (the default)")
	} else {
		f.BoolVar(&w.wait, "wait", false, "for an operation that starts a job, wait for the job to end")
	}
	f.BoolVar(&w.noWait, "no-wait", false, "print the job's URI and return at once")
	f.DurationVar(&w.timeout, "timeout", 10*time.Minute, "how long to wait at most")
	cmd.MarkFlagsMutuallyExclusive("wait", "no-wait")
}

func (w *waitFlags) waits() bool { return w.wait && !w.noWait }

func (w *waitFlags) check() error {
	if w.timeout <= 0 {
		return usagef("--timeout must be positive, not %s", w.timeout)
	}
	return nil
}
