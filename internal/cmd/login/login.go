// Package login implements `ecapi login`.
package login

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
)

// LoginOptions holds the flags and dependencies of `ecapi login`.
type LoginOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	PasswordStdin bool
	Password      string
}

// NewCmdLogin builds the command; runF replaces the run function in tests.
func NewCmdLogin(f *cmdutil.Factory, runF func(*LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to an ecapi server with the installer password and save the token",
		Long: `Exchange the installer password for a 24 h token and save server, pin and
token to the config file (directory 0700, file 0600).

The password comes from --password-stdin, ECAPI_PASSWORD, or a prompt
without echo on a terminal.`,
		Example: `  echo "$PASSWORD" | ecapi login --server https://10.0.0.11:30081 --pin 'sha256//…' --password-stdin`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return loginRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringVar(&opts.Password, "password", "", "the password (unsafe: visible in the process list; prefer --password-stdin or ECAPI_PASSWORD)")
	return cmd
}

func loginRun(opts *LoginOptions) error {
	return fmt.Errorf("ecapi login: %w", cmdutil.ErrNotImplemented)
}
