// Package nodes implements `ecapi nodes`.
package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
)

// DefaultWatchInterval is how often --watch polls.
const DefaultWatchInterval = 2 * time.Second

// NodesOptions holds the flags and dependencies of `ecapi nodes`.
type NodesOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Output string
	Role   string
	Watch  bool
	// WatchInterval is the --watch poll period (not a flag).
	WatchInterval time.Duration
}

// NewCmdNodes builds the command; runF replaces the run function in tests.
func NewCmdNodes(f *cmdutil.Factory, runF func(*NodesOptions) error) *cobra.Command {
	opts := &NodesOptions{IO: f.IOStreams, Globals: f.Globals, WatchInterval: DefaultWatchInterval}
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the cluster's nodes with their roles and readiness",
		Long: `List GET /v1/nodes. On a terminal as a table; piped, as plain columns
aligned with spaces (no colour); -o json and -o yaml print a versioned
document {"apiVersion":"ecapi/v1","kind":"NodeList","nodes":[…]} whose
nodes are the API's objects. --watch polls every 2 s and prints the list
again when it changes, until interrupted.`,
		Example: `  ecapi nodes
  ecapi nodes -o wide --watch
  ecapi nodes --role controller -o json | jq -r '.nodes[].internalIP'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidateOutput(opts.Output, "table", "wide", "json", "yaml"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			def := cmdutil.DefaultRequestTimeout
			if opts.Watch {
				def = 0
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), opts.Globals, def)
			defer cancel()
			return nodesRun(ctx, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table, wide, json or yaml")
	cmd.Flags().StringVar(&opts.Role, "role", "", "only nodes that carry this role")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "keep watching and print the list again when it changes")
	_ = cmd.RegisterFlagCompletionFunc("output", cmdutil.CompleteOutput("table", "wide", "json", "yaml"))
	_ = cmd.RegisterFlagCompletionFunc("role", cmdutil.CompleteRole(f))
	return cmd
}

// NodeList is the -o json/yaml document.
type NodeList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	api.NodesResponse
}

func nodesRun(ctx context.Context, opts *NodesOptions) error {
	cfg, err := cmdutil.ClientConfig(opts.IO, opts.Globals)
	if err != nil {
		return err
	}
	if opts.Watch {
		// The watch loop polls again anyway: no retries inside a poll.
		cfg.MaxAttempts = 1
	}
	c, err := cmdutil.NewClientFromConfig(cfg)
	if err != nil {
		return err
	}
	if !opts.Watch {
		nodes, err := fetch(ctx, c, opts.Role)
		if err != nil {
			return err
		}
		return render(opts, nodes)
	}
	return watch(ctx, c, opts)
}

func fetch(ctx context.Context, c *client.Client, role string) ([]api.Node, error) {
	resp, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	nodes := resp.Nodes
	if role != "" {
		nodes = slices.DeleteFunc(slices.Clone(nodes), func(n api.Node) bool { return !slices.Contains(n.Roles, role) })
	}
	if nodes == nil {
		nodes = []api.Node{}
	}
	return nodes, nil
}

// watch prints the list, then polls and prints it again whenever it
// changes. Errors that may pass (server restarting, 5xx) are reported and
// ridden through; others end the watch. An interrupt ends it quietly.
func watch(ctx context.Context, c *client.Client, opts *NodesOptions) error {
	var last []byte // what the last list printed, to print only changes
	var lastErr string
	first := true
	for {
		nodes, err := fetch(ctx, c, opts.Role)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !transient(err):
			return err
		case err != nil:
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintln(opts.IO.ErrOut, opts.IO.Styles().Warning.Render("Warning: "+msg+" (still watching)"))
				lastErr = msg
			}
		default:
			lastErr = ""
			var out, errOut bytes.Buffer
			bufOpts := *opts
			bufOpts.IO = redirect(opts.IO, &out, &errOut)
			if err := render(&bufOpts, nodes); err != nil {
				return err
			}
			current := slices.Concat(out.Bytes(), errOut.Bytes())
			if !bytes.Equal(current, last) {
				if !first && opts.Output != "json" {
					fmt.Fprintln(opts.IO.Out, separator(opts))
				}
				_, _ = opts.IO.ErrOut.Write(errOut.Bytes())
				if _, err := opts.IO.Out.Write(out.Bytes()); err != nil {
					return err
				}
				last, first = current, false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.WatchInterval):
		}
	}
}

// transient tells errors worth waiting out from those that will not pass.
func transient(err error) bool {
	var connErr *client.ConnectionError
	var apiErr *api.Error
	return errors.As(err, &connErr) || (errors.As(err, &apiErr) && (apiErr.StatusCode >= 500 || apiErr.StatusCode == 429))
}

// separator goes between two printed lists: a YAML document separator, or
// a blank line for tables.
func separator(opts *NodesOptions) string {
	if opts.Output == "yaml" {
		return "---"
	}
	return ""
}

// redirect is a copy of ios writing to buffers, keeping its TTY-ness.
func redirect(ios *iostreams.IOStreams, out, errOut *bytes.Buffer) *iostreams.IOStreams {
	c := *ios
	c.Out, c.ErrOut = out, errOut
	return &c
}

func render(opts *NodesOptions, nodes []api.Node) error {
	switch opts.Output {
	case "json":
		return cmdutil.PrintJSON(opts.IO.Out, NodeList{APIVersion: cmdutil.OutputAPIVersion, Kind: "NodeList", NodesResponse: api.NodesResponse{Nodes: nodes}})
	case "yaml":
		return cmdutil.PrintYAML(opts.IO.Out, NodeList{APIVersion: cmdutil.OutputAPIVersion, Kind: "NodeList", NodesResponse: api.NodesResponse{Nodes: nodes}})
	}
	if len(nodes) == 0 {
		what := "nodes"
		if opts.Role != "" {
			what = "nodes with role " + opts.Role
		}
		fmt.Fprintf(opts.IO.ErrOut, "No %s found.\n", what)
		return nil
	}
	wide := opts.Output == "wide"
	header := []string{"NAME", "ROLES", "READY", "INTERNAL-IP"}
	if wide {
		header = append(header, "LABELS", "ANNOTATIONS")
	}
	styles := opts.IO.Styles()
	t := opts.IO.NewTablePrinter(header...)
	for _, n := range nodes {
		ready := styles.Success.Render("Ready")
		if !n.Ready {
			ready = styles.Error.Render("NotReady")
		}
		roles := strings.Join(n.Roles, ",")
		if roles == "" {
			roles = "<none>"
		}
		ip := n.InternalIP
		if ip == "" {
			ip = "<none>"
		}
		row := []string{n.Name, roles, ready, ip}
		if wide {
			row = append(row, strconv.Itoa(len(n.Labels)), strconv.Itoa(len(n.Annotations)))
		}
		t.AddRow(row...)
	}
	return t.Render()
}
