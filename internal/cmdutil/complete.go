package cmdutil

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// CompletionTimeout bounds what one completion may ask the server: a TAB
// that hangs is worse than one that offers nothing.
const CompletionTimeout = 2 * time.Second

// defaultDataDir is Embedded Cluster's data directory, where completion
// looks for the EC config when nothing names one.
const defaultDataDir = "/var/lib/embedded-cluster"

// CompleteRoles completes a comma-separated list of role names (--roles):
// the last element is completed, roles already listed are not offered again.
func CompleteRoles(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		listed, last := "", toComplete
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			listed, last = toComplete[:i+1], toComplete[i+1:]
		}
		chosen := strings.Split(strings.TrimSuffix(listed, ","), ",")
		var out []cobra.Completion
		for _, r := range KnownRoles(cmd, f) {
			if strings.HasPrefix(r, last) && !slices.Contains(chosen, r) {
				out = append(out, listed+r)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteRole completes a single role name (--role).
func CompleteRole(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, r := range KnownRoles(cmd, f) {
			if strings.HasPrefix(r, toComplete) {
				out = append(out, r)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteOutput completes -o with a verb's formats.
func CompleteOutput(formats ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp)
}

// KnownRoles gathers the role names a completion can offer, failing soft:
// the roles of the local EC config (if one is readable) in their declared
// order, then the roles the logged-in server reports on its nodes. Any
// error just means fewer names.
func KnownRoles(cmd *cobra.Command, f *Factory) []string {
	roles := localRoles(cmd)
	remote := serverRoles(cmd, f)
	sort.Strings(remote)
	for _, r := range remote {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles
}

// localRoles reads the EC config a controller has: --ec-config where the
// verb has that flag, else ECAPI_EC_CONFIG, else
// <ECAPI_DATA_DIR or defaultDataDir>/ec-config.yaml. A missing file yields
// nothing (not the default controller role): completion offers only names
// it has seen.
func localRoles(cmd *cobra.Command) []string {
	path := ""
	if fl := cmd.Flags().Lookup("ec-config"); fl != nil {
		path = fl.Value.String()
	}
	if path == "" {
		path = os.Getenv(EnvName("ec-config"))
	}
	if path == "" {
		dir := os.Getenv(EnvName("data-dir"))
		if dir == "" {
			dir = defaultDataDir
		}
		path = filepath.Join(dir, "ec-config.yaml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	cfg, err := ecconfig.Parse(data)
	if err != nil {
		return nil
	}
	return cfg.Names()
}

// serverRoles asks the server of the saved login (or ECAPI_SERVER with
// ECAPI_TOKEN) for its nodes and returns the union of their roles. It uses
// a token only: logging in with ECAPI_PASSWORD on every TAB would spam the
// audit log and, with a wrong password, lock the user out.
func serverRoles(cmd *cobra.Command, f *Factory) []string {
	// Completion runs without the root's PersistentPreRunE: apply the
	// env and config-file layers here so that the saved login applies.
	g := f.Globals
	g.ConfigDir = ConfigDir(g.ConfigDir)
	if err := ApplyLayers(cmd, g.ConfigDir); err != nil {
		return nil
	}
	quiet := &iostreams.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
	cfg, err := ClientConfig(quiet, g)
	if err != nil || cfg.Token == "" {
		return nil
	}
	cfg.Password, cfg.OnTokenRefresh = "", nil
	cfg.MaxAttempts = 1
	c, err := NewClientFromConfig(cfg)
	if err != nil {
		return nil
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, CompletionTimeout)
	defer cancel()
	resp, err := c.Nodes(ctx)
	if err != nil {
		return nil
	}
	var roles []string
	for _, n := range resp.Nodes {
		for _, r := range n.Roles {
			if r != "" && !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	return roles
}
