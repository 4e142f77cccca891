// Package cli is the root of the ecapi command tree and the one place where
// errors become messages and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
)

// ExitCode is the process exit status; the values are documented in the
// README and in `ecapi --help`.
type ExitCode int

const (
	ExitOK      ExitCode = 0 // success
	ExitError   ExitCode = 1 // any other failure
	ExitUsage   ExitCode = 2 // bad flag, argument or combination
	ExitTimeout ExitCode = 3 // wait-ready timed out
	ExitAuth    ExitCode = 4 // authentication failed
	ExitTLS     ExitCode = 5 // TLS verification failed
)

// exitCodesHelp is shown at the end of `ecapi --help`.
const exitCodesHelp = `Exit codes:
  0  success
  1  error
  2  usage error (bad flag, argument or combination)
  3  wait-ready timed out
  4  authentication failed (wrong password, 401, expired token and no password to log in again)
  5  TLS verification failed (unknown CA, pin mismatch)`

// Main runs ecapi with the process's arguments and returns its exit code.
func Main() ExitCode {
	f := cmdutil.NewFactory()
	root := NewCmdRoot(f)
	err := root.ExecuteContext(context.Background())
	return handleError(f.IOStreams.ErrOut, err)
}

// handleError prints err as one actionable sentence and maps it to an exit code.
func handleError(w io.Writer, err error) ExitCode {
	if err == nil {
		return ExitOK
	}
	code, msg := classify(err)
	fmt.Fprintf(w, "Error: %s\n", msg)
	return code
}

func classify(err error) (ExitCode, string) {
	var flagErr *cmdutil.FlagError
	var timeoutErr *cmdutil.TimeoutError
	var authErr *cmdutil.AuthError
	var tlsErr *client.TLSError
	var connErr *client.ConnectionError
	var apiErr *api.Error
	switch {
	case errors.As(err, &flagErr) || isCobraUsageError(err):
		return ExitUsage, fmt.Sprintf("%v (see --help)", err)
	case errors.As(err, &timeoutErr):
		return ExitTimeout, err.Error()
	case errors.As(err, &tlsErr):
		hint := "pass --ca-file with the server's CA, or --pin with its public key pin"
		switch {
		case errors.Is(err, client.ErrPinMismatch) && tlsErr.Pin != "":
			hint = fmt.Sprintf("if the server's certificate was replaced on purpose, log in again with --pin '%s'; otherwise do not trust it", tlsErr.Pin)
		case tlsErr.Pin != "":
			hint = fmt.Sprintf("if you trust this server, pass --pin '%s' (or run `ecapi login` on a terminal to check its fingerprint)", tlsErr.Pin)
		}
		return ExitTLS, fmt.Sprintf("%v; %s", err, hint)
	case errors.As(err, &authErr):
		return ExitAuth, err.Error()
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized:
		return ExitAuth, fmt.Sprintf("%v; run `ecapi login` or set ECAPI_PASSWORD", err)
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict:
		return ExitError, fmt.Sprintf("%v; run `ecapi wait-ready` first", err)
	case errors.As(err, &connErr):
		return ExitError, fmt.Sprintf("%v; check --server and that `ecapi serve` runs there", err)
	case errors.Is(err, context.DeadlineExceeded):
		return ExitError, fmt.Sprintf("%v; the command ran out of time: raise --timeout", err)
	}
	return ExitError, err.Error()
}

// isCobraUsageError recognises the usage errors cobra builds itself.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "required flag", "accepts ", "requires at least", "if any flags in the group"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
