//go:build !linux

package fetchbundle

import (
	"errors"
	"os"
)

func openAnonymous(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkAnonymous(*os.File, string) error { return errors.ErrUnsupported }
