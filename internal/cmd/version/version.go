// Package version implements `ecapi version`.
package version

import (
	"context"
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
	// BuildInfo reports the client's build; tests fix it.
	BuildInfo func() build.Info
}

// NewCmdVersion builds the command; runF replaces the run function in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IOStreams, Globals: f.Globals, BuildInfo: build.Get}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version, and the server's when one is configured",
		Long: `Print the client's version, commit and build date and, when a server is
configured (--server, ECAPI_SERVER or a saved login) and --client is not
given, the server's GET /v1/version. If the server cannot be asked, the
client's version is still printed, then the error (exit 1, or 5 when its
certificate is not trusted).`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidateOutput(opts.Output, "text", "json"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), opts.Globals, cmdutil.DefaultRequestTimeout)
			defer cancel()
			return versionRun(ctx, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.ClientOnly, "client", false, "print only the client's version")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cmdutil.CompleteOutput("text", "json"))
	return cmd
}

// Versions is the -o json shape.
type Versions struct {
	Client api.VersionResponse  `json:"client"`
	Server *api.VersionResponse `json:"server,omitempty"`
}

func versionRun(ctx context.Context, opts *VersionOptions) error {
	info := opts.BuildInfo()
	v := Versions{Client: api.VersionResponse{Version: info.Version, Commit: info.Commit, BuildDate: info.Date}}
	var serverErr error
	server := ""
	if !opts.ClientOnly && opts.Globals.Server != "" {
		server, v.Server, serverErr = serverVersion(ctx, opts)
	}
	if opts.Output == "json" {
		if err := cmdutil.PrintJSON(opts.IO.Out, v); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(opts.IO.Out, "Client: version %s, commit %s, built %s\n", v.Client.Version, v.Client.Commit, v.Client.BuildDate)
		if v.Server != nil {
			fmt.Fprintf(opts.IO.Out, "Server: version %s, commit %s, built %s (%s)\n", v.Server.Version, v.Server.Commit, v.Server.BuildDate, server)
		}
	}
	if serverErr != nil {
		return fmt.Errorf("server version: %w (pass --client to print only the client's)", serverErr)
	}
	return nil
}

// serverVersion asks the configured server for GET /v1/version, which
// needs no login.
func serverVersion(ctx context.Context, opts *VersionOptions) (string, *api.VersionResponse, error) {
	c, err := cmdutil.NewClient(opts.IO, opts.Globals)
	if err != nil {
		return "", nil, err
	}
	v, err := c.Version(ctx)
	return c.Server(), v, err
}
