// Package version implements `ecapi version`.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
)

// VersionOptions holds the flags and dependencies of `ecapi version`.
type VersionOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	ClientOnly bool
	Output     string
}

// NewCmdVersion builds the command; runF replaces the run function in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version, and the server's when one is configured",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return cmdutil.FlagErrorf("unknown output format %q: use text or json", opts.Output)
			}
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.ClientOnly, "client", false, "print only the client's version")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

// Versions is the -o json shape.
type Versions struct {
	Client api.VersionResponse  `json:"client"`
	Server *api.VersionResponse `json:"server,omitempty"`
}

func versionRun(opts *VersionOptions) error {
	info := build.Get()
	v := Versions{Client: api.VersionResponse{Version: info.Version, Commit: info.Commit, BuildDate: info.Date}}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(opts.IO.Out, "Client: version %s, commit %s, built %s\n", v.Client.Version, v.Client.Commit, v.Client.BuildDate)
	return nil
}
