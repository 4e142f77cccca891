// Package completion implements `ecapi completion`.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
)

// NewCmdCompletion builds `ecapi completion bash|zsh|fish|powershell`.
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print a completion script for your shell.

  bash:        source <(ecapi completion bash)
  zsh:         ecapi completion zsh > "${fpath[1]}/_ecapi"
  fish:        ecapi completion fish > ~/.config/fish/completions/ecapi.fish
  powershell:  ecapi completion powershell | Out-String | Invoke-Expression`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("name one shell: bash, zsh, fish or powershell")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := f.IOStreams.Out
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return cmdutil.FlagErrorf("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
