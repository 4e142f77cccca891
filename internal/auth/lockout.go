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
	count int
	since time.Time
}

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

// Fail records a failed attempt and reports whether the client is now locked out.
func (l *Lockout) Fail(client string) (locked bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.current(client)
	if f == nil {
		l.sweep()
		f = &failures{since: l.Now()}
		l.clients[client] = f
	}
	f.count++
	if f.count >= l.MaxFailures {
		return true, f.since.Add(l.Window).Sub(l.Now())
	}
	return false, 0
}

// Attempt reserves a login attempt: if the client may try, the attempt
// counts as a failure at once (Succeed or Forgive undo that), so concurrent
// guesses cannot all pass the check before any is counted. It returns how
// long the client must still wait (0: it may try).
func (l *Lockout) Attempt(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.current(client)
	if f != nil && f.count >= l.MaxFailures {
		return f.since.Add(l.Window).Sub(l.Now())
	}
	if f == nil {
		l.sweep()
		f = &failures{since: l.Now()}
		l.clients[client] = f
	}
	f.count++
	return 0
}

// Forgive takes back an attempt that was not the client's fault (the
// check could not run).
func (l *Lockout) Forgive(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.current(client); f != nil {
		if f.count--; f.count <= 0 {
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
