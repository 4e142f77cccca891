//go:build long

package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// opStats collects one kind of request's outcomes across goroutines.
type opStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	statuses  map[int]int
	errors    []string
}

func (s *opStats) record(d time.Duration, status int, problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statuses == nil {
		s.statuses = map[int]int{}
	}
	s.latencies = append(s.latencies, d)
	s.statuses[status]++
	if problem != "" && len(s.errors) < 20 {
		s.errors = append(s.errors, problem)
	}
}

func (s *opStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s statuses=%v", summary(s.latencies), s.statuses)
}

// TestLoadMixedClients runs 200 concurrent clients for 60 s, each on its
// own kept-alive connection, mixing GET /v1/health, GET /v1/nodes with a
// token and logins with the right password, while one more host keeps
// guessing wrong. Every answer must be a success, except that host's
// intended 401s and then 429s with Retry-After.
func TestLoadMixedClients(t *testing.T) {
	const (
		clients  = 200
		duration = 60 * time.Second
		// Logins in flight at once, from the load's one address: the bcrypt
		// pool (one worker per core) then answers each within its 2 s wait,
		// and the per-address lockout (5 attempts in flight count as 5
		// failures until they succeed) is never reached.
		loginsInFlight = 4
	)
	s := startServe(t, nil)
	token := mustLogin(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var health, nodes, logins, guesses opStats
	loginSlots := make(chan struct{}, loginsInFlight)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.client("", true)
			defer c.CloseIdleConnections()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for ctx.Err() == nil {
				pick := rng.IntN(100)
				if pick < 10 {
					select {
					case loginSlots <- struct{}{}:
						runLogin(ctx, c, s.URL, &logins)
						<-loginSlots
						continue
					default: // enough logins in flight: do something cheap instead
					}
				}
				if pick < 55 {
					runGet(ctx, c, s.URL+api.PathNodes, token, &nodes, validNodes)
				} else {
					runGet(ctx, c, s.URL+api.PathHealth, "", &health, validHealth)
				}
			}
		}()
	}
	// The guesser: another host (127.0.0.2) with a wrong password.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := s.client("127.0.0.2", true)
		defer c.CloseIdleConnections()
		for n := 1; ctx.Err() == nil; n++ {
			start := time.Now()
			_, resp, err := login(ctx, c, s.URL, "wrong-"+strconv.Itoa(n))
			if ctx.Err() != nil {
				return
			}
			problem := ""
			status := 0
			switch {
			case err != nil:
				problem = err.Error()
			case n <= 5 && resp.StatusCode != http.StatusUnauthorized:
				problem = fmt.Sprintf("guess %d: %d, want 401", n, resp.StatusCode)
			case n > 5 && (resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == ""):
				problem = fmt.Sprintf("guess %d: %d (Retry-After %q), want 429 with Retry-After", n, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if resp != nil {
				status = resp.StatusCode
			}
			guesses.record(time.Since(start), status, problem)
		}
	}()
	wg.Wait()

	total := 0
	for name, st := range map[string]*opStats{"health": &health, "nodes": &nodes, "login": &logins, "wrong-password host": &guesses} {
		t.Logf("%-20s %s", name, st)
		total += len(st.latencies)
		for _, e := range st.errors {
			t.Errorf("%s: %s", name, e)
		}
	}
	t.Logf("%d requests in %s from %d clients: %.0f req/s", total, duration, clients+1, float64(total)/duration.Seconds())
	for name, st := range map[string]*opStats{"health": &health, "nodes": &nodes, "login": &logins} {
		if len(st.latencies) == 0 {
			t.Errorf("no %s requests completed", name)
		}
	}
	if guesses.statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("the wrong-password host was never locked out: %v", guesses.statuses)
	}
}

// runGet records one GET; a context ending mid-request (the load's end) is
// not an outcome.
func runGet(ctx context.Context, c *http.Client, url, token string, st *opStats, valid func([]byte) error) {
	start := time.Now()
	status, body, err := get(ctx, c, url, token)
	if ctx.Err() != nil {
		return
	}
	problem := ""
	switch {
	case err != nil:
		problem = err.Error()
	case status != http.StatusOK:
		problem = fmt.Sprintf("GET %s: %d %s", url, status, body)
	default:
		if err := valid(body); err != nil {
			problem = fmt.Sprintf("GET %s: %v", url, err)
		}
	}
	st.record(time.Since(start), status, problem)
}

func runLogin(ctx context.Context, c *http.Client, url string, st *opStats) {
	start := time.Now()
	tok, resp, err := login(ctx, c, url, password)
	if ctx.Err() != nil {
		return
	}
	problem, status := "", 0
	if resp != nil {
		status = resp.StatusCode
	}
	switch {
	case err != nil:
		problem = err.Error()
	case tok == "":
		problem = fmt.Sprintf("login with the right password: %d", status)
	}
	st.record(time.Since(start), status, problem)
}

func validHealth(b []byte) error {
	if string(b) != `{"status":"ok"}` {
		return fmt.Errorf("health body %q", b)
	}
	return nil
}

func validNodes(b []byte) error {
	var list api.NodesResponse
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("decode nodes: %w", err)
	}
	for _, n := range list.Nodes {
		if n.Name == "controller-0" {
			return nil
		}
	}
	return fmt.Errorf("controller-0 not listed in %d nodes", len(list.Nodes))
}

// TestLoadBundleDownloadsBoundedRSS runs 50 bundle downloads at once, each
// with a 64 MiB image archive: the daemon's peak RSS grows by at most
// 64 MiB, so bundles are streamed, not held in memory per download.
func TestLoadBundleDownloadsBoundedRSS(t *testing.T) {
	const (
		downloads = 50
		imageSize = 64 << 20
		maxGrowth = 64 << 20
	)
	s := startServe(t, func(dataDir string) {
		writeIncompressible(t, filepath.Join(dataDir, "images", "load-images.tar"), imageSize)
	})
	token := mustLogin(t, s)
	url := s.URL + "/v1/join-bundle?roles=controller"
	// One download first: the bundle cache is warm and the daemon has
	// served a bundle before the peak is read.
	if status, body, err := get(context.Background(), s.client("", false), url, token); err != nil || status != http.StatusOK || len(body) < imageSize {
		t.Fatalf("first download: %d, %d bytes, %v", status, len(body), err)
	}
	before := vmHWM(t, s.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		wg      sync.WaitGroup
		bytes   atomic.Int64
		mu      sync.Mutex
		failed  []string
		lengths = map[int64]int{}
	)
	start := time.Now()
	release := make(chan struct{})
	for i := range downloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			n, length, err := download(ctx, s.client("", false), url, token)
			bytes.Add(n)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed = append(failed, fmt.Sprintf("download %d: %v", i, err))
			case n != length:
				failed = append(failed, fmt.Sprintf("download %d: %d of %d bytes", i, n, length))
			default:
				lengths[length]++
			}
		}()
	}
	close(release)
	wg.Wait()
	took := time.Since(start)
	after := vmHWM(t, s.Pid)

	for _, f := range failed {
		t.Error(f)
	}
	growth := after - before
	t.Logf("%d concurrent downloads, %d MiB in %s (%.0f MiB/s); bundle sizes %v", downloads, bytes.Load()>>20, took.Round(time.Millisecond),
		float64(bytes.Load())/(1<<20)/took.Seconds(), lengths)
	t.Logf("serve VmHWM: %d MiB before, %d MiB after: growth %d MiB (bound %d MiB)", before>>20, after>>20, growth>>20, maxGrowth>>20)
	if growth > maxGrowth {
		t.Errorf("peak RSS grew by %d MiB during %d concurrent downloads, want at most %d MiB", growth>>20, downloads, maxGrowth>>20)
	}
}

// download reads a whole bundle and returns the bytes read and the
// announced Content-Length.
func download(ctx context.Context, c *http.Client, url, token string) (int64, int64, error) {
	c.Timeout = 0 // the context bounds it
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, resp.ContentLength, fmt.Errorf("status %d", resp.StatusCode)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, resp.ContentLength, err
}

// TestLoadWrongPasswordStorm guesses wrong passwords from hundreds of
// loopback addresses (each gets its 5 bcrypt-checked guesses, then held
// 429s) while one client polls /v1/health. Health must never fail; its
// latency idle and under the storm is logged (the ratio goal is checked
// by scripts/bench.sh, not here).
func TestLoadWrongPasswordStorm(t *testing.T) {
	const (
		attackers = 32
		idleFor   = 5 * time.Second
		stormFor  = 20 * time.Second
	)
	s := startServe(t, nil)
	prober := s.client("", true)

	idle, idleFailures := probeHealth(t, prober, s.URL, idleFor, nil)

	ctx, cancel := context.WithTimeout(context.Background(), stormFor)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []string
		next     atomic.Int64
	)
	for range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ip := loopbackIP(int(next.Add(1)))
				c := s.client(ip, true)
				// Guess from this address until it is locked out.
				for guess := 1; ctx.Err() == nil; guess++ {
					_, resp, err := login(ctx, c, s.URL, fmt.Sprintf("wrong-%s-%d", ip, guess))
					if ctx.Err() != nil {
						break
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, err.Error())
					} else {
						statuses[resp.StatusCode]++
					}
					mu.Unlock()
					if err != nil || resp.StatusCode == http.StatusTooManyRequests {
						break
					}
				}
				c.CloseIdleConnections()
			}
		}()
	}
	storm, stormFailures := probeHealth(t, prober, s.URL, stormFor, ctx.Done())
	wg.Wait()

	t.Logf("health idle:  %s", summary(idle))
	t.Logf("health storm: %s", summary(storm))
	idleP99 := percentile(sorted(idle), 99)
	stormP99 := percentile(sorted(storm), 99)
	if idleP99 > 0 {
		t.Logf("health p99 storm/idle = %.2f", float64(stormP99)/float64(idleP99))
	}
	t.Logf("storm: %d addresses, login answers %v, %d transport errors", next.Load(), statuses, len(errs))
	for _, f := range append(idleFailures, stormFailures...) {
		t.Error(f)
	}
	if statuses[http.StatusUnauthorized] == 0 {
		t.Errorf("no wrong password was checked during the storm: %v", statuses)
	}
}

func sorted(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// probeHealth sends GET /v1/health back to back for d (or until stop) and
// returns the latencies and any failures.
func probeHealth(t *testing.T, c *http.Client, url string, d time.Duration, stop <-chan struct{}) ([]time.Duration, []string) {
	t.Helper()
	var lat []time.Duration
	var failures []string
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-stop:
			return lat, failures
		default:
		}
		start := time.Now()
		status, body, err := get(context.Background(), c, url+api.PathHealth, "")
		lat = append(lat, time.Since(start))
		if err != nil || status != http.StatusOK || validHealth(body) != nil {
			failures = append(failures, fmt.Sprintf("health: %d %q %v", status, body, err))
		}
	}
	return lat, failures
}
