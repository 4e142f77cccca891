package cli

import (
	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmd/completion"
	"github.com/ecapi/ecapi/internal/cmd/fetchbundle"
	"github.com/ecapi/ecapi/internal/cmd/joincommand"
	"github.com/ecapi/ecapi/internal/cmd/login"
	"github.com/ecapi/ecapi/internal/cmd/nodes"
	"github.com/ecapi/ecapi/internal/cmd/serve"
	"github.com/ecapi/ecapi/internal/cmd/version"
	"github.com/ecapi/ecapi/internal/cmd/waitready"
	"github.com/ecapi/ecapi/internal/cmdutil"
)

// NewCmdRoot builds the whole command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	g := f.Globals
	root := &cobra.Command{
		Use:   "ecapi",
		Short: "Embedded Cluster external API: the daemon and its client",
		Long: `ecapi serves the Embedded Cluster external API on a controller (ecapi serve)
and drives it from anywhere in the cluster network, so that joining a node
headlessly is two lines of CI:

  ecapi wait-ready && ecapi join-command --roles controller -o shell | ssh new-host sudo sh

Configuration is layered: flag > ECAPI_<FLAG> environment variable >
config file ($ECAPI_CONFIG_DIR or $XDG_CONFIG_HOME/ecapi/config.yaml) > default.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.ConfigDir = cmdutil.ConfigDir(g.ConfigDir)
			return cmdutil.ApplyLayers(cmd, g.ConfigDir)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetOut(f.IOStreams.Out)
	root.SetErr(f.IOStreams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitCodesHelp + "\n")
	root.CompletionOptions.DisableDefaultCmd = true

	pf := root.PersistentFlags()
	pf.StringVar(&g.Server, "server", "", "API server URL, e.g. https://10.0.0.11:30081 (env ECAPI_SERVER)")
	pf.StringVar(&g.Pin, "pin", "", "trust the server whose public key has this pin (sha256//<base64>, as printed by ecapi serve)")
	pf.StringVar(&g.CAFile, "ca-file", "", "trust server certificates signed by the CA in this PEM file")
	pf.BoolVar(&g.Insecure, "insecure-skip-tls-verify", false, "do not verify the server certificate (unsafe: prefer --pin)")
	pf.StringVar(&g.ConfigDir, "config-dir", "", "directory of config.yaml and the saved login (env ECAPI_CONFIG_DIR; default $XDG_CONFIG_HOME/ecapi)")
	pf.DurationVar(&g.Timeout, "timeout", 0, "give up on the command after this long (0: the command's default)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "log HTTP requests to stderr (never the Authorization header)")

	root.AddCommand(
		serve.NewCmdServe(f, nil),
		login.NewCmdLogin(f, nil),
		nodes.NewCmdNodes(f, nil),
		waitready.NewCmdWaitReady(f, nil),
		joincommand.NewCmdJoinCommand(f, nil),
		fetchbundle.NewCmdFetchBundle(f, nil),
		version.NewCmdVersion(f, nil),
		completion.NewCmdCompletion(f),
	)
	return root
}
