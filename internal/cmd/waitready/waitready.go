// Package waitready implements `ecapi wait-ready`.
package waitready

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
)

// controlPlaneLabel marks controllers in Kubernetes; used to recognise the
// controller role when its configured name is not "controller".
const controlPlaneLabel = "node-role.kubernetes.io/control-plane"

// maxBackoffFactor caps the wait after failed polls at Interval times this.
const maxBackoffFactor = 4

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
Without --role, a controller is a node with the role "controller" or the
node-role.kubernetes.io/control-plane label.

Connection refused, TLS handshakes failing while the server starts, 5xx
and 429 are ridden through, backing off up to 4 × --interval. A certificate
that fails verification (unknown CA, pin mismatch: exit 5) or a refused
login (exit 4) ends the wait at once.

Prints "condition met" on stdout and exits 0, or exits 3 when --timeout
passes, naming what it saw last. Progress goes to stderr: a spinner on a
terminal, otherwise one line per change. Works from ECAPI_SERVER,
ECAPI_PASSWORD and --pin alone, without a saved login.`,
		Example: `  ecapi wait-ready --timeout 10m && ecapi join-command --roles controller -o shell | ssh new-host sudo sh
  ecapi wait-ready --role worker --min 3`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval <= 0 {
				return cmdutil.FlagErrorf("--interval must be positive")
			}
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if opts.Min < 1 {
				return cmdutil.FlagErrorf("--min must be at least 1")
			}
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), nil, 0)
			defer cancel()
			return waitReadyRun(ctx, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "give up after this long (exit 3)")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "time between polls")
	cmd.Flags().StringVar(&opts.Role, "role", "", "role to wait for (default: the controller role)")
	cmd.Flags().IntVar(&opts.Min, "min", 1, "how many Ready nodes of the role to wait for")
	_ = cmd.RegisterFlagCompletionFunc("role", cmdutil.CompleteRole(f))
	return cmd
}

func waitReadyRun(ctx context.Context, opts *WaitReadyOptions) error {
	cfg, err := cmdutil.ClientConfig(opts.IO, opts.Globals)
	if err != nil {
		return err
	}
	cfg.MaxAttempts = 1 // the poll loop is the retry, with its own backoff
	c, err := cmdutil.NewClientFromConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	what := describeTarget(opts)
	p := newProgress(opts, "waiting for "+what)
	defer p.stop()
	delay := opts.Interval
	for {
		resp, err := c.Nodes(ctx)
		switch {
		case ctx.Err() != nil:
			p.stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &cmdutil.TimeoutError{Err: fmt.Errorf("timed out after %s waiting for %s; last seen: %s", opts.Timeout, what, p.last())}
			}
			return fmt.Errorf("interrupted while waiting for %s; last seen: %s", what, p.last())
		case err != nil && !transient(err):
			p.stop()
			return err
		case err != nil:
			p.report(describeError(err))
			delay = min(delay*2, opts.Interval*maxBackoffFactor)
		default:
			ready, total, names := count(resp.Nodes, opts.Role)
			state := fmt.Sprintf("%d of %d %s Ready", ready, total, plural(total, roleName(opts), "node"))
			if len(names) > 0 {
				state += " (" + strings.Join(names, ", ") + ")"
			}
			if opts.Min > 1 && ready < opts.Min {
				state += fmt.Sprintf("; need %d", opts.Min)
			}
			if ready >= opts.Min {
				p.done(state)
				fmt.Fprintln(opts.IO.Out, "condition met")
				return nil
			}
			p.report(state)
			delay = opts.Interval
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// transient tells the failures of a server that is starting or busy from
// those that will not pass by waiting.
func transient(err error) bool {
	var connErr *client.ConnectionError
	var apiErr *api.Error
	switch {
	case errors.As(err, &connErr):
		return true
	case errors.As(err, &apiErr):
		return apiErr.StatusCode >= 500 || apiErr.StatusCode == 429
	}
	return false
}

func describeError(err error) string {
	var connErr *client.ConnectionError
	if errors.As(err, &connErr) {
		return "server not reachable yet: " + connErr.Err.Error()
	}
	return "server not ready: " + err.Error()
}

// matches reports whether n counts for the role being waited for.
func matches(n api.Node, role string) bool {
	if role != "" {
		return slices.Contains(n.Roles, role)
	}
	_, controlPlane := n.Labels[controlPlaneLabel]
	return controlPlane || slices.Contains(n.Roles, "controller")
}

// count returns how many nodes of the role are Ready, how many there are,
// and the names of the Ready ones.
func count(nodes []api.Node, role string) (ready, total int, names []string) {
	for _, n := range nodes {
		if !matches(n, role) {
			continue
		}
		total++
		if n.Ready {
			ready++
			names = append(names, n.Name)
		}
	}
	return ready, total, names
}

func roleName(opts *WaitReadyOptions) string {
	if opts.Role == "" {
		return "controller"
	}
	return opts.Role
}

func describeTarget(opts *WaitReadyOptions) string {
	return fmt.Sprintf("%d Ready %s", opts.Min, plural(opts.Min, roleName(opts), "node"))
}

func plural(n int, role, noun string) string {
	if n == 1 {
		return role + " " + noun
	}
	return role + " " + noun + "s"
}

// progress shows the wait's state on stderr: a spinner on a terminal,
// else one line per change (so CI logs show each step once).
type progress struct {
	ios     *iostreams.IOStreams
	spinner *iostreams.Spinner
	state   string
}

func newProgress(opts *WaitReadyOptions, msg string) *progress {
	p := &progress{ios: opts.IO, state: "nothing yet"}
	// Request logs (-v) would tear the spinner line apart.
	if opts.IO.IsStderrTTY() && !opts.Globals.Verbose {
		p.spinner = opts.IO.StartSpinner(msg)
	}
	return p
}

func (p *progress) report(state string) {
	if state == p.state {
		return
	}
	p.state = state
	if p.spinner != nil {
		p.spinner.Update(state)
		return
	}
	fmt.Fprintln(p.ios.ErrOut, state)
}

func (p *progress) done(state string) {
	p.stop()
	if p.ios.IsStderrTTY() {
		fmt.Fprintln(p.ios.ErrOut, p.ios.Styles().Success.Render("✓")+" "+state)
		return
	}
	p.report(state)
}

func (p *progress) last() string { return p.state }

func (p *progress) stop() {
	if p.spinner != nil {
		p.spinner.Stop()
	}
}
