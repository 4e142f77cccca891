package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ecapi/ecapi/internal/kube"
)

// LoginWait bounds how long a login waits for a bcrypt worker.
const LoginWait = 2 * time.Second

// LockedOutError is returned while a client is locked out, or while its
// logins in flight already fill its remaining tries (InFlight).
type LockedOutError struct {
	RetryAfter time.Duration
	InFlight   bool
}

func (e *LockedOutError) Error() string {
	if e.InFlight {
		return fmt.Sprintf("too many logins in progress from this address: try again in %s", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("too many failed logins: try again in %s", e.RetryAfter.Round(time.Second))
}

// SecretPassword reads the installer password hash from a watched Secret.
type SecretPassword struct {
	watch *kube.SecretWatch
	ref   string
}

// WatchPassword watches the password Secret ("namespace/name").
func WatchPassword(ctx context.Context, client kubernetes.Interface, ref string) (*SecretPassword, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("password secret %q must be namespace/name", ref)
	}
	return &SecretPassword{watch: kube.WatchSecret(ctx, client, ns, name), ref: ref}, nil
}

// WaitForSync waits for the first read of the Secret.
func (p *SecretPassword) WaitForSync(ctx context.Context) bool { return p.watch.WaitForSync(ctx) }

// PasswordHash returns the current hash.
func (p *SecretPassword) PasswordHash() ([]byte, error) {
	s := p.watch.Get()
	if s == nil {
		return nil, fmt.Errorf("%w: secret %s not found", ErrPasswordUnavailable, p.ref)
	}
	h := s.Data[PasswordHashKey]
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: secret %s has no %s key", ErrPasswordUnavailable, p.ref, PasswordHashKey)
	}
	return h, nil
}

// Service is what the HTTP layer needs from auth: logins and verification.
type Service struct {
	Tokens  *Tokens
	Checker *Checker
	Lockout *Lockout
	Hashes  HashSource
}

// Login checks the password for client (an IP) and issues a login token.
func (s *Service) Login(ctx context.Context, clientIP, password string) (string, time.Time, error) {
	client := ClientKey(clientIP)
	if wait, locked := s.Lockout.Attempt(client); wait > 0 {
		return "", time.Time{}, &LockedOutError{RetryAfter: wait, InFlight: !locked}
	}
	ctx, cancel := context.WithTimeout(ctx, LoginWait)
	defer cancel()
	hash, err := s.Checker.Check(ctx, password)
	if errors.Is(err, ErrWrongPassword) {
		if locked, wait := s.Lockout.Fail(client); locked {
			return "", time.Time{}, errors.Join(err, &LockedOutError{RetryAfter: wait})
		}
		return "", time.Time{}, err
	}
	if err != nil {
		s.Lockout.Forgive(client)
		return "", time.Time{}, err
	}
	s.Lockout.Succeed(client)
	return s.Tokens.IssueLogin("installer", PasswordFingerprint(hash))
}

// VerifyLogin checks a login token, including that the password has not
// changed since it was issued.
func (s *Service) VerifyLogin(raw string) (*LoginClaims, error) {
	claims, err := s.Tokens.VerifyLogin(raw)
	if err != nil {
		return nil, err
	}
	hash, err := s.Hashes.PasswordHash()
	if err != nil {
		return nil, err
	}
	if !constantTimeEqual(PasswordFingerprint(hash), claims.PasswordFingerprint) {
		return nil, &TokenError{Reason: "token was issued before the installer password changed: log in again"}
	}
	return claims, nil
}
