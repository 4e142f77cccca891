// Package nodes implements `ecapi nodes`.
package nodes

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// NodesOptions holds the flags and dependencies of `ecapi nodes`.
type NodesOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Output string
	Role   string
	Watch  bool
}

// NewCmdNodes builds the command; runF replaces the run function in tests.
func NewCmdNodes(f *cmdutil.Factory, runF func(*NodesOptions) error) *cobra.Command {
	opts := &NodesOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the cluster's nodes with their roles and readiness",
		Example: `  ecapi nodes
  ecapi nodes --role controller -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return nodesRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table, wide, json or yaml")
	cmd.Flags().StringVar(&opts.Role, "role", "", "only nodes that carry this role")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "keep watching and reprint on changes")
	return cmd
}

func nodesRun(opts *NodesOptions) error {
	return fmt.Errorf("ecapi nodes: %w", cmdutil.ErrNotImplemented)
}
