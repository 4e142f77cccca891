// Package joincommand implements `ecapi join-command`.
package joincommand

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
)

// JoinCommandOptions holds the flags and dependencies of `ecapi join-command`.
type JoinCommandOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Roles         []string
	Output        string
	TTL           time.Duration
	MaxUses       int
	AllowParallel bool
}

// NewCmdJoinCommand builds the command; runF replaces the run function in tests.
func NewCmdJoinCommand(f *cmdutil.Factory, runF func(*JoinCommandOptions) error) *cobra.Command {
	opts := &JoinCommandOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "join-command",
		Short: "Create the commands a new host runs to join the cluster",
		Long: `Call POST /v1/create-join-command and print the join steps:

  text   numbered steps with their descriptions (the default)
  json   {"apiVersion":"ecapi/v1","kind":"JoinCommand", …the API's response}
  shell  a POSIX script (#!/bin/sh, set -eu, one comment per step) ready to
         pipe to ssh

The download step carries a short-lived token: treat the output as a
secret. Warnings from the server go to stderr. Before a controller is
Ready the server answers 409: run ecapi wait-ready first.`,
		Example: `  ecapi join-command --roles controller
  ecapi wait-ready && ecapi join-command --roles controller -o shell | ssh new-host sudo sh
  ecapi join-command --roles worker,gpu --ttl 30m --max-uses 1 -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidateRoles(opts.Roles); err != nil {
				return err
			}
			if err := cmdutil.ValidateOutput(opts.Output, "text", "json", "shell"); err != nil {
				return err
			}
			if cmd.Flags().Changed("ttl") && opts.TTL <= 0 {
				return cmdutil.FlagErrorf("--ttl must be positive")
			}
			if opts.MaxUses < 0 {
				return cmdutil.FlagErrorf("--max-uses must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), opts.Globals, cmdutil.DefaultRequestTimeout)
			defer cancel()
			return joinCommandRun(ctx, opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Roles, "roles", nil, "comma-separated role names from the EC config (required)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text, json or shell")
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 0, "lifetime of the join token, 5m to 24h (default: the server's, 1h)")
	cmd.Flags().IntVar(&opts.MaxUses, "max-uses", 0, "how many bundle downloads the join token allows (default 0: unlimited; 1: single-use)")
	cmd.Flags().BoolVar(&opts.AllowParallel, "allow-parallel", false, "do not warn when another controller join is still pending (joining controllers in parallel risks etcd errors)")
	_ = cmd.RegisterFlagCompletionFunc("roles", cmdutil.CompleteRoles(f))
	_ = cmd.RegisterFlagCompletionFunc("output", cmdutil.CompleteOutput("text", "json", "shell"))
	return cmd
}

// JoinCommand is the -o json document.
type JoinCommand struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	api.CreateJoinCommandResponse
}

func joinCommandRun(ctx context.Context, opts *JoinCommandOptions) error {
	c, err := cmdutil.NewClient(opts.IO, opts.Globals)
	if err != nil {
		return err
	}
	req := api.CreateJoinCommandRequest{Roles: opts.Roles, MaxUses: opts.MaxUses, AllowParallel: opts.AllowParallel}
	if opts.TTL > 0 {
		req.TTL = opts.TTL.String()
	}
	resp, err := c.CreateJoinCommand(ctx, req)
	if err != nil {
		return err
	}
	styles := opts.IO.Styles()
	for _, w := range resp.Warnings {
		fmt.Fprintln(opts.IO.ErrOut, styles.Warning.Render("Warning: "+w))
	}
	switch opts.Output {
	case "json":
		return cmdutil.PrintJSON(opts.IO.Out, JoinCommand{APIVersion: cmdutil.OutputAPIVersion, Kind: "JoinCommand", CreateJoinCommandResponse: *resp})
	case "shell":
		return writeShell(opts.IO.Out, resp.JoinSteps)
	}
	return writeText(opts, resp)
}

// writeShell writes the steps as a POSIX script. Commands are the
// server's, verbatim; descriptions become comments, on one line each so
// that a newline in one cannot smuggle in a command.
func writeShell(w io.Writer, steps []api.JoinStep) error {
	var b strings.Builder
	b.WriteString("#!/bin/sh\nset -eu\n")
	for _, s := range steps {
		fmt.Fprintf(&b, "# %s\n%s\n", oneLine(s.Description), s.Command)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func writeText(opts *JoinCommandOptions, resp *api.CreateJoinCommandResponse) error {
	styles := opts.IO.Styles()
	var b strings.Builder
	header := "Run these steps on the new host to join it with roles " + strings.Join(opts.Roles, ", ")
	if resp.ExpiresAt != "" {
		header += " (the download works until " + resp.ExpiresAt + ")"
	}
	b.WriteString(styles.Bold.Render(header+":") + "\n\n")
	for i, s := range resp.JoinSteps {
		fmt.Fprintf(&b, "%s %s\n", styles.Header.Render(fmt.Sprintf("%d.", i+1)), oneLine(s.Description))
		fmt.Fprintf(&b, "   %s\n", styles.Code.Render(s.Command))
	}
	if opts.IO.IsStdoutTTY() {
		b.WriteString("\n" + styles.Muted.Render("The download command carries a short-lived token: keep it secret. For a script: -o shell.") + "\n")
	}
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}
