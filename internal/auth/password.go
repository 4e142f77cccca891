package auth

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// PasswordHashKey is the key of the password Secret holding the bcrypt hash.
const PasswordHashKey = "passwordBcrypt"

// ErrWrongPassword is a password that does not match the installer's.
var ErrWrongPassword = errors.New("wrong password")

// ErrPasswordUnavailable means the password Secret is missing or unreadable.
var ErrPasswordUnavailable = errors.New("installer password secret is not available")

// ErrBusy means every bcrypt worker stayed busy for longer than we wait.
var ErrBusy = errors.New("too many logins in progress")

// HashSource returns the current bcrypt hash of the installer password.
type HashSource interface {
	PasswordHash() ([]byte, error)
}

// Checker compares passwords with bcrypt through a bounded pool, so a login
// storm uses at most `workers` cores and cannot starve other requests.
type Checker struct {
	hashes HashSource
	slots  chan struct{}
}

// NewChecker returns a checker running at most workers comparisons at once.
func NewChecker(hashes HashSource, workers int) *Checker {
	if workers < 1 {
		workers = 1
	}
	return &Checker{hashes: hashes, slots: make(chan struct{}, workers)}
}

// Check compares password with the installer password; it returns the hash
// it matched so tokens can carry its fingerprint.
func (c *Checker) Check(ctx context.Context, password string) ([]byte, error) {
	hash, err := c.hashes.PasswordHash()
	if err != nil {
		return nil, err
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ErrBusy
	}
	defer func() { <-c.slots }()
	err = bcrypt.CompareHashAndPassword(hash, []byte(password))
	switch {
	case err == nil:
		return hash, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return nil, ErrWrongPassword
	default:
		return nil, fmt.Errorf("%w: stored hash is not bcrypt: %v", ErrPasswordUnavailable, err)
	}
}
