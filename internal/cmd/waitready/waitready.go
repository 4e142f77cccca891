// Package waitready implements `ecapi wait-ready`.
package waitready

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// WaitReadyOptions holds the flags and dependencies of `ecapi wait-ready`.
type WaitReadyOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Timeout  time.Duration
	Interval time.Duration
	Role     string
	Min      int
}

// NewCmdWaitReady builds the command; runF replaces the run function in tests.
func NewCmdWaitReady(f *cmdutil.Factory, runF func(*WaitReadyOptions) error) *cobra.Command {
	opts := &WaitReadyOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "wait-ready",
		Short: "Wait until enough nodes of a role are Ready (exit 3 on timeout)",
		Long: `Poll GET /v1/nodes until at least --min nodes with --role are Ready.
Connection refused, TLS not up yet, 5xx and 503 are ridden through with
backoff. Prints "condition met" and exits 0, or exits 3 when --timeout
passes, naming what it saw last. Works from ECAPI_SERVER, ECAPI_PASSWORD
and --pin alone, without a saved login.`,
		Example: `  ecapi wait-ready --timeout 10m && ecapi join-command --roles controller -o shell`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval <= 0 {
				return cmdutil.FlagErrorf("--interval must be positive")
			}
			if opts.Min < 1 {
				return cmdutil.FlagErrorf("--min must be at least 1")
			}
			if runF != nil {
				return runF(opts)
			}
			return waitReadyRun(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "give up after this long (exit 3)")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "time between polls")
	cmd.Flags().StringVar(&opts.Role, "role", "", "role to wait for (default: the controller role)")
	cmd.Flags().IntVar(&opts.Min, "min", 1, "how many Ready nodes of the role to wait for")
	return cmd
}

func waitReadyRun(opts *WaitReadyOptions) error {
	return fmt.Errorf("ecapi wait-ready: %w", cmdutil.ErrNotImplemented)
}
