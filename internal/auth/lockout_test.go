package auth_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
)

func TestLockout(t *testing.T) {
	// Each step: advance the clock, then fail (f), attempt (a), forgive (g),
	// succeed (s) or check (c); want is the wait the call (or a Check after
	// it) reports (0: not locked).
	type step struct {
		advance time.Duration
		op      byte
		want    time.Duration
	}
	const w = 10 * time.Minute
	cases := []struct {
		name  string
		steps []step
	}{
		{"under the limit", []step{{0, 'f', 0}, {time.Second, 'f', 0}, {0, 'c', 0}}},
		{"third failure locks", []step{{0, 'f', 0}, {time.Minute, 'f', 0}, {time.Minute, 'f', w - 2*time.Minute}, {time.Minute, 'c', w - 3*time.Minute}}},
		{"window anchored at first failure", []step{{0, 'f', 0}, {w - time.Second, 'f', 0}, {time.Second, 'f', 0}, {0, 'c', 0}}},
		{"lock ends with the window", []step{{0, 'f', 0}, {0, 'f', 0}, {0, 'f', w}, {w - time.Nanosecond, 'c', time.Nanosecond}, {time.Nanosecond, 'c', 0}}},
		{"success forgets", []step{{0, 'f', 0}, {0, 'f', 0}, {0, 's', 0}, {0, 'f', 0}, {0, 'f', 0}, {0, 'c', 0}}},
		{"success lifts a lock", []step{{0, 'f', 0}, {0, 'f', 0}, {0, 'f', w}, {0, 's', 0}, {0, 'c', 0}}},
		{"failures while locked keep the window", []step{{0, 'f', 0}, {0, 'f', 0}, {0, 'f', w}, {time.Minute, 'f', w - time.Minute}}},
		{"attempts in flight hold places", []step{{0, 'a', 0}, {0, 'a', 0}, {time.Minute, 'a', 0}, {0, 'a', auth.InFlightWait}, {0, 'c', 0}}},
		{"failed attempts lock", []step{{0, 'a', 0}, {0, 'a', 0}, {0, 'a', 0}, {0, 'f', 0}, {0, 'f', 0}, {time.Minute, 'f', w - time.Minute}, {0, 'a', w - time.Minute}}},
		{"forgiven attempts do not count", []step{{0, 'a', 0}, {0, 'g', 0}, {0, 'a', 0}, {0, 'g', 0}, {0, 'a', 0}, {0, 'g', 0}, {0, 'a', 0}, {0, 'a', 0}, {0, 'c', 0}}},
		{"forgive keeps earlier failures", []step{{0, 'f', 0}, {0, 'f', 0}, {0, 'a', 0}, {0, 'g', 0}, {0, 'c', 0}, {0, 'f', w}}},
		{"attempt and failures share the window", []step{{0, 'a', 0}, {time.Minute, 'f', 0}, {time.Minute, 'f', 0}, {0, 'f', w - 2*time.Minute}, {0, 'a', w - 2*time.Minute}}},
		{"forgive without attempts is harmless", []step{{0, 'g', 0}, {0, 'f', 0}, {0, 'f', 0}, {0, 'c', 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &manualClock{now: testNow}
			l := auth.NewLockout(3, w)
			l.Now = clock.Now
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				var got time.Duration
				switch s.op {
				case 'f':
					locked, wait := l.Fail("c1")
					if locked != (wait > 0) {
						t.Fatalf("step %d: locked %v with wait %v", i, locked, wait)
					}
					got = wait
				case 'a':
					got, _ = l.Attempt("c1")
				case 'g':
					l.Forgive("c1")
					got = l.Check("c1")
				case 's':
					l.Succeed("c1")
					got = l.Check("c1")
				case 'c':
					got = l.Check("c1")
				}
				if got != s.want {
					t.Fatalf("step %d (%c): wait %v, want %v", i, s.op, got, s.want)
				}
				if other := l.Check("c2"); other != 0 {
					t.Fatalf("step %d: an unrelated client waits %v", i, other)
				}
			}
		})
	}
}

func TestLockoutManyClients(t *testing.T) {
	clock := &manualClock{now: testNow}
	l := auth.NewLockout(2, time.Minute)
	l.Now = clock.Now
	// More clients than the sweep threshold fail once, then time passes:
	// old entries must lock no one out and new clients get their own windows.
	for i := 0; i < 1100; i++ {
		l.Fail(ipFor(i))
	}
	clock.Advance(time.Minute)
	for i := 0; i < 1100; i++ {
		if locked, _ := l.Fail(ipFor(i)); locked {
			t.Fatalf("client %d locked by a failure from an expired window", i)
		}
	}
	if locked, _ := l.Fail(ipFor(7)); !locked {
		t.Error("second failure within the window did not lock")
	}
}

func ipFor(i int) string { return fmt.Sprintf("10.1.%d.%d", i/256, i%256) }

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":             "10.0.0.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64",
		"::ffff:10.0.0.1":      "::ffff:10.0.0.1",
		"not an ip":            "not an ip",
	} {
		if got := auth.ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
