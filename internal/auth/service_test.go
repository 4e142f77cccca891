package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ecapi/ecapi/internal/auth"
)

// fakeHashes is a HashSource whose hash can change, or fail, mid-test.
type fakeHashes struct {
	mu   sync.Mutex
	hash []byte
	err  error
}

func (f *fakeHashes) PasswordHash() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hash, f.err
}

func (f *fakeHashes) set(hash []byte, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hash, f.err = hash, err
}

func bcryptHash(t *testing.T, password string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// manualClock is a settable clock for the lockout.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	testPassword = "correct horse"
	lockMax      = 5
	lockWindow   = 15 * time.Minute
	client       = "10.0.0.7"
)

type serviceFixture struct {
	svc    *auth.Service
	hashes *fakeHashes
	clock  *manualClock
}

func newService(t *testing.T) serviceFixture {
	t.Helper()
	hashes := &fakeHashes{hash: bcryptHash(t, testPassword)}
	clock := &manualClock{now: testNow}
	lock := auth.NewLockout(lockMax, lockWindow)
	lock.Now = clock.Now
	svc := &auth.Service{
		Tokens:  &auth.Tokens{Keys: newFakeKeys(t, "k1"), Now: clock.Now},
		Checker: auth.NewChecker(hashes, 2),
		Lockout: lock,
		Hashes:  hashes,
	}
	return serviceFixture{svc: svc, hashes: hashes, clock: clock}
}

func TestLoginSuccess(t *testing.T) {
	f := newService(t)
	raw, exp, err := f.svc.Login(context.Background(), client, testPassword)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if !exp.Equal(testNow.Add(auth.LoginTTL)) {
		t.Errorf("expiry %v, want %v", exp, testNow.Add(auth.LoginTTL))
	}
	c, err := f.svc.VerifyLogin(raw)
	if err != nil {
		t.Fatalf("VerifyLogin: %v", err)
	}
	if c.Subject != "installer" {
		t.Errorf("subject %q", c.Subject)
	}
	hash, _ := f.hashes.PasswordHash()
	if c.PasswordFingerprint != auth.PasswordFingerprint(hash) {
		t.Errorf("token fingerprint %q is not the hash's", c.PasswordFingerprint)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	cases := []string{"wrong", "", testPassword + " ", strings.ToUpper(testPassword)}
	for _, pw := range cases {
		t.Run(fmt.Sprintf("%q", pw), func(t *testing.T) {
			f := newService(t)
			raw, _, err := f.svc.Login(context.Background(), client, pw)
			if !errors.Is(err, auth.ErrWrongPassword) {
				t.Fatalf("error %v, want ErrWrongPassword", err)
			}
			var locked *auth.LockedOutError
			if errors.As(err, &locked) {
				t.Errorf("one failure locked the client out: %v", err)
			}
			if raw != "" {
				t.Errorf("token %q issued for a wrong password", raw)
			}
		})
	}
}

func TestLoginLockout(t *testing.T) {
	f := newService(t)
	ctx := context.Background()

	for i := 1; i < lockMax; i++ {
		f.clock.Advance(time.Second)
		_, _, err := f.svc.Login(ctx, client, "guess")
		var locked *auth.LockedOutError
		if !errors.Is(err, auth.ErrWrongPassword) || errors.As(err, &locked) {
			t.Fatalf("failure %d: %v, want a plain ErrWrongPassword", i, err)
		}
	}
	f.clock.Advance(time.Second)
	_, _, err := f.svc.Login(ctx, client, "guess")
	var locked *auth.LockedOutError
	if !errors.Is(err, auth.ErrWrongPassword) || !errors.As(err, &locked) {
		t.Fatalf("failure %d: %v, want ErrWrongPassword joined with *LockedOutError", lockMax, err)
	}
	// The window began with the first failure, lockMax seconds ago.
	if want := lockWindow - (lockMax-1)*time.Second; locked.RetryAfter != want {
		t.Errorf("RetryAfter %v, want %v", locked.RetryAfter, want)
	}

	// Locked out: even the right password is refused, without a bcrypt check.
	f.clock.Advance(time.Second)
	raw, _, err := f.svc.Login(ctx, client, testPassword)
	locked = nil
	if !errors.As(err, &locked) || raw != "" {
		t.Fatalf("right password while locked out: token %q, error %v, want *LockedOutError", raw, err)
	}
	if errors.Is(err, auth.ErrWrongPassword) {
		t.Errorf("lockout error claims a wrong password: %v", err)
	}
	if want := lockWindow - lockMax*time.Second; locked.RetryAfter != want {
		t.Errorf("RetryAfter %v, want %v", locked.RetryAfter, want)
	}
	if !strings.Contains(locked.Error(), "try again in") {
		t.Errorf("message %q does not say when to retry", locked.Error())
	}

	// Another client is not affected.
	if _, _, err := f.svc.Login(ctx, "10.0.0.8", testPassword); err != nil {
		t.Errorf("other client: %v", err)
	}

	// One second before the window ends: still locked.
	f.clock.Advance(locked.RetryAfter - time.Second)
	if _, _, err := f.svc.Login(ctx, client, testPassword); !errors.As(err, &locked) {
		t.Fatalf("a second before the window ends: %v, want *LockedOutError", err)
	}
	if locked.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v, want 1s", locked.RetryAfter)
	}

	// Once the window has passed, the right password works again.
	f.clock.Advance(time.Second)
	if _, _, err := f.svc.Login(ctx, client, testPassword); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLoginSuccessResetsFailures(t *testing.T) {
	f := newService(t)
	ctx := context.Background()
	fail := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, _, err := f.svc.Login(ctx, client, "guess"); !errors.Is(err, auth.ErrWrongPassword) {
				t.Fatalf("guess: %v", err)
			}
		}
	}
	fail(lockMax - 1)
	if _, _, err := f.svc.Login(ctx, client, testPassword); err != nil {
		t.Fatalf("right password after %d failures: %v", lockMax-1, err)
	}
	fail(lockMax - 1)
	var locked *auth.LockedOutError
	if _, _, err := f.svc.Login(ctx, client, testPassword); errors.As(err, &locked) || err != nil {
		t.Fatalf("counter was not reset by the success: %v", err)
	}
}

func TestLoginFailuresExpireWithWindow(t *testing.T) {
	f := newService(t)
	ctx := context.Background()
	for i := 0; i < lockMax-1; i++ {
		_, _, _ = f.svc.Login(ctx, client, "guess")
	}
	f.clock.Advance(lockWindow)
	// The old failures have aged out: this is failure 1 of a new window.
	_, _, err := f.svc.Login(ctx, client, "guess")
	var locked *auth.LockedOutError
	if !errors.Is(err, auth.ErrWrongPassword) || errors.As(err, &locked) {
		t.Fatalf("first failure of a new window: %v", err)
	}
}

func TestVerifyLoginAfterPasswordChange(t *testing.T) {
	f := newService(t)
	raw, _, err := f.svc.Login(context.Background(), client, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	f.hashes.set(bcryptHash(t, "new password"), nil)
	_, err = f.svc.VerifyLogin(raw)
	var te *auth.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v, want *TokenError", err)
	}
	if !strings.Contains(te.Reason, "password") {
		t.Errorf("reason %q does not mention the password", te.Reason)
	}
	// Setting the same password again makes a new salted hash: still revoked.
	f.hashes.set(bcryptHash(t, testPassword), nil)
	if _, err := f.svc.VerifyLogin(raw); !errors.As(err, &te) {
		t.Errorf("token valid after the password was re-set: %v", err)
	}
	// A fresh login under the new hash verifies.
	raw2, _, err := f.svc.Login(context.Background(), client, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyLogin(raw2); err != nil {
		t.Errorf("fresh token: %v", err)
	}
}

func TestVerifyLoginRejectsBadToken(t *testing.T) {
	f := newService(t)
	_, err := f.svc.VerifyLogin("not.a.token")
	var te *auth.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v, want *TokenError", err)
	}
}

func TestPasswordUnavailable(t *testing.T) {
	f := newService(t)
	raw, _, err := f.svc.Login(context.Background(), client, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	cause := fmt.Errorf("%w: secret kotsadm/kotsadm-password not found", auth.ErrPasswordUnavailable)
	f.hashes.set(nil, cause)

	if _, _, err := f.svc.Login(context.Background(), client, testPassword); !errors.Is(err, auth.ErrPasswordUnavailable) {
		t.Errorf("Login: %v, want ErrPasswordUnavailable", err)
	}
	if _, err := f.svc.VerifyLogin(raw); !errors.Is(err, auth.ErrPasswordUnavailable) {
		t.Errorf("VerifyLogin: %v, want ErrPasswordUnavailable", err)
	}
	// An unreadable secret is not the client's fault: no failures counted.
	f.hashes.set(bcryptHash(t, testPassword), nil)
	for i := 0; i < lockMax-1; i++ {
		_, _, _ = f.svc.Login(context.Background(), client, "guess")
	}
	if _, _, err := f.svc.Login(context.Background(), client, testPassword); err != nil {
		t.Errorf("after %d real failures: %v", lockMax-1, err)
	}
}

func TestLoginWithNonBcryptHash(t *testing.T) {
	f := newService(t)
	f.hashes.set([]byte("plaintext-not-bcrypt"), nil)
	_, _, err := f.svc.Login(context.Background(), client, "plaintext-not-bcrypt")
	if !errors.Is(err, auth.ErrPasswordUnavailable) {
		t.Fatalf("error %v, want ErrPasswordUnavailable", err)
	}
	if errors.Is(err, auth.ErrWrongPassword) {
		t.Error("a broken hash counts as a wrong password")
	}
}

func TestLoginWithoutSigningKey(t *testing.T) {
	f := newService(t)
	keys := newFakeKeys(t, "k1")
	keys.setCurrent("missing")
	f.svc.Tokens = &auth.Tokens{Keys: keys, Now: f.clock.Now}
	if _, _, err := f.svc.Login(context.Background(), client, testPassword); !errors.Is(err, auth.ErrNoSigningKey) {
		t.Errorf("error %v, want ErrNoSigningKey", err)
	}
}

func TestCheckerCompares(t *testing.T) {
	hashes := &fakeHashes{hash: bcryptHash(t, testPassword)}
	c := auth.NewChecker(hashes, 0) // clamps to one worker
	got, err := c.Check(context.Background(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := hashes.PasswordHash(); string(got) != string(want) {
		t.Errorf("Check returned hash %q, want %q", got, want)
	}
	if _, err := c.Check(context.Background(), "nope"); !errors.Is(err, auth.ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
}

func TestLockedOutErrorMessage(t *testing.T) {
	cases := []struct {
		wait time.Duration
		want string
	}{
		{90 * time.Second, "1m30s"},
		{1400 * time.Millisecond, "1s"},
		{15 * time.Minute, "15m0s"},
	}
	for _, tc := range cases {
		e := &auth.LockedOutError{RetryAfter: tc.wait}
		if !strings.HasSuffix(e.Error(), tc.want) {
			t.Errorf("%v: message %q, want suffix %q", tc.wait, e.Error(), tc.want)
		}
	}
}
