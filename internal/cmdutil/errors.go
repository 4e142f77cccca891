// Package cmdutil holds what every command shares: the Factory, the error
// kinds that the single exit point maps to exit codes, and flag helpers.
package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// FlagError is a usage mistake: a bad flag, argument or combination (exit 2).
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// TimeoutError is a wait that ran out of time (exit 3).
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// AuthError is an authentication failure with no way to recover here (exit 4).
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// NoArgs rejects positional arguments with a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return FlagErrorf("%q takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// MutuallyExclusive fails when more than one of the given conditions holds.
func MutuallyExclusive(message string, conditions ...bool) error {
	n := 0
	for _, c := range conditions {
		if c {
			n++
		}
	}
	if n > 1 {
		return FlagErrorf("%s", message)
	}
	return nil
}

// ValidateRoles checks a --roles list for what the server would refuse with
// a 400 anyway, as a usage error before any network call.
func ValidateRoles(roles []string) error {
	if len(roles) == 0 {
		return FlagErrorf("--roles is required, e.g. --roles controller")
	}
	seen := map[string]bool{}
	for _, r := range roles {
		switch {
		case strings.TrimSpace(r) == "":
			return FlagErrorf("--roles has an empty role name")
		case seen[r]:
			return FlagErrorf("--roles names %q twice", r)
		}
		seen[r] = true
	}
	return nil
}
