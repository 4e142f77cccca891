package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

type staticHash []byte

func (h staticHash) PasswordHash() ([]byte, error) { return h, nil }

// holdSlots occupies every worker slot as a running comparison would.
func holdSlots(c *Checker) (release func()) {
	for i := 0; i < cap(c.slots); i++ {
		c.slots <- struct{}{}
	}
	return func() {
		for i := 0; i < cap(c.slots); i++ {
			<-c.slots
		}
	}
}

func minCostHash(t *testing.T, password string) staticHash {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCheckerBusy(t *testing.T) {
	hash := minCostHash(t, "pw")
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"context already done", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
		{"context expires while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(hash, 1)
			release := holdSlots(c)
			ctx, cancel := tc.ctx()
			defer cancel()
			if _, err := c.Check(ctx, "pw"); !errors.Is(err, ErrBusy) {
				t.Fatalf("Check with the only slot held: %v, want ErrBusy", err)
			}
			release()
			if _, err := c.Check(context.Background(), "pw"); err != nil {
				t.Fatalf("Check once the slot is free: %v", err)
			}
			if len(c.slots) != 0 {
				t.Errorf("%d slots still held after Check returned", len(c.slots))
			}
		})
	}
}

func TestCheckerWaitsForSlot(t *testing.T) {
	c := NewChecker(minCostHash(t, "pw"), 1)
	release := holdSlots(c)
	done := make(chan error, 1)
	go func() {
		_, err := c.Check(context.Background(), "pw")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Check finished while the slot was held: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Check after the slot was released: %v", err)
	}
}

func TestCheckerBoundsConcurrency(t *testing.T) {
	cases := []struct{ workers, want int }{{-1, 1}, {0, 1}, {1, 1}, {4, 4}}
	for _, tc := range cases {
		if got := cap(NewChecker(staticHash(nil), tc.workers).slots); got != tc.want {
			t.Errorf("NewChecker(%d) has %d slots, want %d", tc.workers, got, tc.want)
		}
	}
	// Every concurrent Check returns its slot, matched or not.
	c := NewChecker(minCostHash(t, "pw"), 2)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pw := "pw"
			if i%2 == 1 {
				pw = "wrong"
			}
			_, _ = c.Check(context.Background(), pw)
		}(i)
	}
	wg.Wait()
	if len(c.slots) != 0 {
		t.Errorf("%d slots leaked", len(c.slots))
	}
}

func TestServiceLoginBusyIsNotAFailure(t *testing.T) {
	hash := minCostHash(t, "pw")
	keys := &staticKeys{kid: "k", key: make([]byte, 32)}
	svc := &Service{
		Tokens:  &Tokens{Keys: keys},
		Checker: NewChecker(hash, 1),
		Lockout: NewLockout(1, time.Hour),
		Hashes:  hash,
	}
	release := holdSlots(svc.Checker)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := svc.Login(ctx, "c", "wrong"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Login with the pool full: %v, want ErrBusy", err)
	}
	release()
	// With MaxFailures 1 a counted failure would lock the client out.
	if _, _, err := svc.Login(context.Background(), "c", "pw"); err != nil {
		t.Fatalf("Login after ErrBusy: %v", err)
	}
}

type staticKeys struct {
	kid string
	key []byte
}

func (k *staticKeys) Current() (string, []byte, error) { return k.kid, k.key, nil }
func (k *staticKeys) Lookup(kid string) ([]byte, bool) { return k.key, kid == k.kid }

// Concurrent guesses must not all pass the lockout check before any is
// counted: with the bcrypt pool full, only MaxFailures attempts may queue,
// the rest are refused at once.
func TestLoginConcurrentGuessesAreCounted(t *testing.T) {
	const maxFailures, guesses = 5, 12
	hash := minCostHash(t, "pw")
	svc := &Service{
		Tokens:  &Tokens{Keys: &staticKeys{kid: "k", key: make([]byte, 32)}},
		Checker: NewChecker(hash, 1),
		Lockout: NewLockout(maxFailures, time.Hour),
		Hashes:  hash,
	}
	release := holdSlots(svc.Checker)
	results := make(chan error, guesses)
	for i := 0; i < guesses; i++ {
		go func() {
			_, _, err := svc.Login(context.Background(), "attacker", "guess")
			results <- err
		}()
	}
	// The surplus guesses are refused without waiting for a worker.
	for i := 0; i < guesses-maxFailures; i++ {
		err := <-results
		var locked *LockedOutError
		if !errors.As(err, &locked) || errors.Is(err, ErrWrongPassword) {
			t.Fatalf("surplus guess %d: %v, want a lockout without a password check", i, err)
		}
	}
	release()
	for i := 0; i < maxFailures; i++ {
		if err := <-results; !errors.Is(err, ErrWrongPassword) {
			t.Errorf("queued guess %d: %v, want ErrWrongPassword", i, err)
		}
	}
	if wait := svc.Lockout.Check("attacker"); wait <= 0 {
		t.Error("attacker not locked out after the guesses")
	}
}
