// Package login implements `ecapi login`.
package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
)

// maxPasswordBytes bounds what --password-stdin reads.
const maxPasswordBytes = 4096

// LoginOptions holds the flags and dependencies of `ecapi login`.
type LoginOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	PasswordStdin bool
	Password      string
	// PasswordInArgv is set when Password came from the --password flag
	// rather than from ECAPI_PASSWORD (the config layering fills the flag
	// from the environment too): only then is the password visible in the
	// process list, which deserves a warning.
	PasswordInArgv bool
}

// NewCmdLogin builds the command; runF replaces the run function in tests.
func NewCmdLogin(f *cmdutil.Factory, runF func(*LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to an ecapi server with the installer password and save the token",
		Long: `Exchange the installer password for a 24 h token and save server, pin,
CA file and token to config.yaml in the config directory (directory 0700,
file 0600, replaced atomically). Later commands use them without flags.

The password comes from --password-stdin, ECAPI_PASSWORD, or a prompt
without echo on a terminal.

The server's certificate is trusted by --pin, --ca-file, the system's CAs,
or, on a terminal, by confirming its fingerprint (trust on first use: the
pin is then saved). Not on a terminal, an untrusted certificate fails with
exit code 5 and the pin to pass with --pin.`,
		Example: `  echo "$PASSWORD" | ecapi login --server https://10.0.0.11:30081 --pin 'sha256//…' --password-stdin
  ecapi login --server 10.0.0.11     # on a terminal: confirm the fingerprint, type the password`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.PasswordInArgv = opts.Password != "" && opts.Password != os.Getenv(client.EnvPassword)
			if opts.PasswordStdin && opts.PasswordInArgv {
				return cmdutil.FlagErrorf("--password and --password-stdin cannot be used together")
			}
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), opts.Globals, 0)
			defer cancel()
			return loginRun(ctx, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringVar(&opts.Password, "password", "", "the password (unsafe: visible in the process list; prefer --password-stdin or ECAPI_PASSWORD)")
	return cmd
}

func loginRun(ctx context.Context, opts *LoginOptions) error {
	ios, styles := opts.IO, opts.IO.Styles()
	password, prompt, err := passwordSource(opts)
	if err != nil {
		return err
	}
	cfg, err := cmdutil.ClientConfig(ios, opts.Globals)
	if err != nil {
		return err
	}
	// Log in explicitly with this password, not with a saved token.
	cfg.Token, cfg.Password, cfg.OnTokenRefresh = "", "", nil
	if err := replaceSavedTrust(&cfg, opts.Globals.ConfigDir); err != nil {
		return err
	}

	if cfg.Pin == "" && cfg.CAFile == "" && !cfg.InsecureSkipVerify {
		pin, err := trustOnFirstUse(ctx, ios, cfg)
		if err != nil {
			return err
		}
		cfg.Pin = pin
	}
	if prompt {
		fmt.Fprintf(ios.ErrOut, "Password for %s: ", cfg.Server)
		p, err := ios.ReadPassword()
		fmt.Fprintln(ios.ErrOut)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		password = string(p)
		if password == "" {
			return cmdutil.FlagErrorf("empty password")
		}
	}

	c, err := cmdutil.NewClientFromConfig(cfg)
	if err != nil {
		return err
	}
	tok, err := c.Login(ctx, password)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized {
		reason := apiErr.Message
		if reason == "" {
			reason = "wrong password"
		}
		return &cmdutil.AuthError{Err: fmt.Errorf("login to %s failed: %s", c.Server(), reason)}
	}
	if err != nil {
		return err // the SDK's errors name the server already
	}

	caFile := cfg.CAFile
	if caFile != "" {
		if abs, err := filepath.Abs(caFile); err == nil {
			caFile = abs
		}
	}
	path, err := cmdutil.SaveLogin(opts.Globals.ConfigDir, cmdutil.SavedLogin{Server: c.Server(), Pin: cfg.Pin, CAFile: caFile, Token: tok.Token})
	if err != nil {
		return err
	}

	msg := "Logged in to " + c.Server()
	if !tok.ExpiresAt.IsZero() {
		msg += fmt.Sprintf(" (token expires %s)", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if ios.IsStdoutTTY() {
		msg = styles.Success.Render("✓") + " " + msg
	}
	fmt.Fprintln(ios.Out, msg)
	if ios.IsStderrTTY() {
		fmt.Fprintln(ios.ErrOut, styles.Muted.Render("Saved to "+path))
	}
	return nil
}

// replaceSavedTrust lets a new --pin or --ca-file given to login replace
// the saved one instead of adding to it: after a certificate rotation, the
// old saved pin must not make the new CA fail (or the reverse).
func replaceSavedTrust(cfg *client.Config, dir string) error {
	saved, err := cmdutil.LoadSavedLogin(dir)
	if err != nil {
		return err
	}
	pinSaved := cfg.Pin != "" && cfg.Pin == saved.Pin
	caSaved := cfg.CAFile != "" && cfg.CAFile == saved.CAFile
	switch {
	case pinSaved && cfg.CAFile != "" && !caSaved:
		cfg.Pin = ""
	case caSaved && cfg.Pin != "" && !pinSaved:
		cfg.CAFile = ""
	}
	return nil
}

// passwordSource picks the password: --password-stdin, --password (with a
// warning), ECAPI_PASSWORD, else a prompt on a terminal (prompt=true; asked
// only once the server is trusted).
func passwordSource(opts *LoginOptions) (password string, prompt bool, err error) {
	ios := opts.IO
	switch {
	case opts.PasswordStdin:
		data, err := io.ReadAll(io.LimitReader(ios.In, maxPasswordBytes+1))
		if err != nil {
			return "", false, fmt.Errorf("read password from stdin: %w", err)
		}
		if len(data) > maxPasswordBytes {
			return "", false, cmdutil.FlagErrorf("password on stdin is longer than %d bytes", maxPasswordBytes)
		}
		password = strings.TrimRight(string(data), "\r\n")
		if password == "" {
			return "", false, cmdutil.FlagErrorf("--password-stdin: stdin held no password")
		}
		return password, false, nil
	case opts.Password != "":
		if opts.PasswordInArgv {
			fmt.Fprintln(ios.ErrOut, ios.Styles().Warning.Render(
				"Warning: a password given with --password is visible in the process list and shell history; use --password-stdin or ECAPI_PASSWORD."))
		}
		return opts.Password, false, nil
	case os.Getenv(client.EnvPassword) != "":
		return os.Getenv(client.EnvPassword), false, nil
	case ios.CanPrompt():
		return "", true, nil
	}
	return "", false, cmdutil.FlagErrorf("no password: pass --password-stdin, set %s, or run on a terminal to be asked", client.EnvPassword)
}

// trustOnFirstUse is for a server trusted by neither --pin nor --ca-file.
// A certificate from a CA the system trusts is accepted as it is (pin "").
// Otherwise, on a terminal, the user is shown the certificate and asked;
// saying yes returns its pin to be saved. Not on a terminal, the TLSError
// is returned: it carries the pin, which the error message prints.
func trustOnFirstUse(ctx context.Context, ios *iostreams.IOStreams, cfg client.Config) (string, error) {
	c, err := cmdutil.NewClientFromConfig(cfg)
	if err != nil {
		return "", err
	}
	_, err = c.Health(ctx)
	var tlsErr *client.TLSError
	if err == nil || !errors.As(err, &tlsErr) || tlsErr.Cert == nil {
		return "", err
	}
	if !ios.CanPrompt() {
		return "", tlsErr
	}
	styles := ios.Styles()
	cert := tlsErr.Cert
	fmt.Fprintf(ios.ErrOut, "%s\n", styles.Warning.Render(fmt.Sprintf("The certificate of %s is not signed by a CA this machine trusts (%v).", c.Server(), tlsErr.Err)))
	fmt.Fprintf(ios.ErrOut, "  Subject:             %s\n", cert.Subject)
	fmt.Fprintf(ios.ErrOut, "  Valid until:         %s\n", cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(ios.ErrOut, "  SHA-256 fingerprint: %s\n", client.Fingerprint(cert))
	fmt.Fprintf(ios.ErrOut, "  Public key pin:      %s\n", styles.Code.Render(tlsErr.Pin))
	fmt.Fprintln(ios.ErrOut, "Compare them with what `ecapi serve` logged on the controller.")
	ok, err := ios.Confirm("Trust this server and remember its pin?")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", tlsErr
	}
	return tlsErr.Pin, nil
}
