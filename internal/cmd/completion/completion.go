// Package completion implements `ecapi completion` and generates the
// completion scripts that are committed under completions/ and packaged.
package completion

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
)

// Shells are the shells ecapi has completion scripts for, with the file
// each script is committed as under completions/.
var Shells = []struct{ Name, File string }{
	{"bash", "ecapi.bash"},
	{"zsh", "ecapi.zsh"},
	{"fish", "ecapi.fish"},
	{"powershell", "ecapi.ps1"},
}

// NewCmdCompletion builds `ecapi completion bash|zsh|fish|powershell`.
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print a completion script for your shell. The deb and rpm packages
install them already; from the tar.gz archive, or to try them:

  bash:        source <(ecapi completion bash)
  zsh:         ecapi completion zsh > "${fpath[1]}/_ecapi"
  fish:        ecapi completion fish > ~/.config/fish/completions/ecapi.fish
  powershell:  ecapi completion powershell | Out-String | Invoke-Expression

Besides verbs and flags, the scripts complete --roles from the logged-in
server's nodes and from the local EC config (ECAPI_EC_CONFIG, else
<ECAPI_DATA_DIR or /var/lib/embedded-cluster>/ec-config.yaml), and -o with
the formats each verb supports. Asking the server is bounded to 2 seconds
and uses the saved token only, never the password.`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("name one shell: bash, zsh, fish or powershell")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return Generate(cmd.Root(), args[0], f.IOStreams.Out)
		},
	}
}

// Generate writes root's completion script for shell to w. Both `ecapi
// completion` and the committed files under completions/ come from here, so
// the two cannot differ.
func Generate(root *cobra.Command, shell string, w io.Writer) error {
	var err error
	switch shell {
	case "bash":
		err = root.GenBashCompletionV2(w, true)
	case "zsh":
		err = root.GenZshCompletion(w)
	case "fish":
		err = root.GenFishCompletion(w, true)
	case "powershell":
		err = root.GenPowerShellCompletionWithDesc(w)
	default:
		return cmdutil.FlagErrorf("unknown shell %q: use bash, zsh, fish or powershell", shell)
	}
	if err != nil {
		return fmt.Errorf("write %s completion: %w", shell, err)
	}
	return nil
}
