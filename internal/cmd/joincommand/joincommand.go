// Package joincommand implements `ecapi join-command`.
package joincommand

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// JoinCommandOptions holds the flags and dependencies of `ecapi join-command`.
type JoinCommandOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Roles  []string
	Output string
}

// NewCmdJoinCommand builds the command; runF replaces the run function in tests.
func NewCmdJoinCommand(f *cmdutil.Factory, runF func(*JoinCommandOptions) error) *cobra.Command {
	opts := &JoinCommandOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "join-command",
		Short: "Create the commands a new host runs to join the cluster",
		Long: `Call POST /v1/create-join-command and print the join steps: numbered text,
the API's JSON, or a POSIX shell script ready to pipe to ssh.`,
		Example: `  ecapi join-command --roles controller
  ecapi join-command --roles controller -o shell | ssh new-host sudo sh`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Roles) == 0 {
				return cmdutil.FlagErrorf("--roles is required")
			}
			if runF != nil {
				return runF(opts)
			}
			return joinCommandRun(opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Roles, "roles", nil, "comma-separated role names from the EC config (required)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text, json or shell")
	return cmd
}

func joinCommandRun(opts *JoinCommandOptions) error {
	return fmt.Errorf("ecapi join-command: %w", cmdutil.ErrNotImplemented)
}
