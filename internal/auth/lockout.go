package auth

import (
	"net"
	"sync"
	"time"
)

// Lockout limits failed logins per client: after MaxFailures within Window
// the client is refused until the window that began with its first failure
// has passed (as Vault's userpass lockout does).
type Lockout struct {
	MaxFailures int
	Window      time.Duration
	Now         func() time.Time

	mu        sync.Mutex
	clients   map[string]*failures
	lastSweep time.Time
}

type failures struct {
	count   int // failed logins in this window
	pending int // logins being checked now
	since   time.Time
}

// InFlightWait is what a client is told to wait when its logins in flight
// already fill its remaining tries: one of them is about to finish.
const InFlightWait = time.Second

// NewLockout returns a lockout of max failures per window.
func NewLockout(max int, window time.Duration) *Lockout {
	return &Lockout{MaxFailures: max, Window: window, Now: time.Now, clients: map[string]*failures{}}
}

// Check reports how long the client must still wait (0: it may try).
func (l *Lockout) Check(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.current(client)
	if f == nil || f.count < l.MaxFailures {
		return 0
	}
	return f.since.Add(l.Window).Sub(l.Now())
}

// Attempt reserves a try before the password is checked, so concurrent
// guesses cannot all pass before any is counted: failures plus logins in
// flight never exceed MaxFailures. It returns how long the client must wait
// (0: go ahead, and report the outcome with Fail, Succeed or Forgive) and
// whether that is a lockout rather than a full house of logins in flight.
func (l *Lockout) Attempt(client string) (wait time.Duration, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(client)
	switch {
	case f.count >= l.MaxFailures:
		return f.since.Add(l.Window).Sub(l.Now()), true
	case f.count+f.pending >= l.MaxFailures:
		return InFlightWait, false
	}
	f.pending++
	return 0, false
}

// Fail records a failed login (ending a reserved attempt, if any) and
// reports whether the client is now locked out.
func (l *Lockout) Fail(client string) (locked bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(client)
	if f.pending > 0 {
		f.pending--
	}
	f.count++
	if f.count >= l.MaxFailures {
		return true, f.since.Add(l.Window).Sub(l.Now())
	}
	return false, 0
}

// Forgive ends a reserved attempt that was not the client's fault (the
// check could not run).
func (l *Lockout) Forgive(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.current(client); f != nil {
		if f.pending > 0 {
			f.pending--
		}
		if f.count == 0 && f.pending == 0 {
			delete(l.clients, client)
		}
	}
}

// Succeed forgets the client's failures.
func (l *Lockout) Succeed(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.clients, client)
}

// entry returns the client's live window, opening one when it has none.
func (l *Lockout) entry(client string) *failures {
	f := l.current(client)
	if f == nil {
		l.sweep()
		f = &failures{since: l.Now()}
		l.clients[client] = f
	}
	return f
}

// current returns the client's live window, dropping an expired one.
func (l *Lockout) current(client string) *failures {
	f := l.clients[client]
	if f != nil && l.Now().Sub(f.since) >= l.Window {
		delete(l.clients, client)
		return nil
	}
	return f
}

// sweep drops expired windows so the map stays bounded by recent clients;
// at most once a minute, so a flood of new clients costs linear time.
func (l *Lockout) sweep() {
	now := l.Now()
	if len(l.clients) < 1024 || now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for k, f := range l.clients {
		if now.Sub(f.since) >= l.Window {
			delete(l.clients, k)
		}
	}
}

// ClientKey is the lockout key of a client address: the address itself for
// IPv4, its /64 for IPv6, so one host cannot dodge the limit (or fill the
// map) by rotating through its own prefix.
func ClientKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
