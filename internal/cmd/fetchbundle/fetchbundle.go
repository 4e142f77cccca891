// Package fetchbundle implements `ecapi fetch-bundle`.
package fetchbundle

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// FetchBundleOptions holds the flags and dependencies of `ecapi fetch-bundle`.
type FetchBundleOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Roles     []string
	File      string
	OutputDir string
	Extract   string
}

// NewCmdFetchBundle builds the command; runF replaces the run function in tests.
func NewCmdFetchBundle(f *cmdutil.Factory, runF func(*FetchBundleOptions) error) *cobra.Command {
	opts := &FetchBundleOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "fetch-bundle",
		Short: "Download (and optionally extract and verify) a join bundle",
		Long: `Download GET /v1/join-bundle to a temporary file and rename it when complete,
so an interrupted download leaves nothing behind. With --extract, unpack it
(refusing paths that escape the directory) and verify SHA256SUMS.`,
		Example: `  ecapi fetch-bundle --roles controller --extract ./join`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Roles) == 0 {
				return cmdutil.FlagErrorf("--roles is required")
			}
			if err := cmdutil.MutuallyExclusive("specify only one of -O/--output-file and --output-dir", opts.File != "", opts.OutputDir != ""); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return fetchBundleRun(opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Roles, "roles", nil, "comma-separated role names from the EC config (required)")
	cmd.Flags().StringVarP(&opts.File, "output-file", "O", "", "write the bundle to this file (default: the server's file name)")
	cmd.Flags().StringVar(&opts.OutputDir, "output-dir", "", "write the bundle into this directory")
	cmd.Flags().StringVar(&opts.Extract, "extract", "", "extract the bundle into this directory and verify SHA256SUMS")
	return cmd
}

func fetchBundleRun(opts *FetchBundleOptions) error {
	return fmt.Errorf("ecapi fetch-bundle: %w", cmdutil.ErrNotImplemented)
}
