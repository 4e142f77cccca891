//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/internal/bundle/bundletest"
)

func runBench(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	work := fs.String("work", "", "scratch directory (required; the data dir, cache and anchor go there)")
	sizeMiB := fs.Int64("size-mib", 1024, "size of the synthetic data dir in MiB")
	concurrent := fs.Int("concurrent", 50, "concurrent downloads for the RSS measurement")
	rounds := fs.Int("rounds", 7, "timed downloads of each kind for the throughput ratio")
	budget := fs.Duration("concurrent-budget", 150*time.Second, "longest the concurrent phase may run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *work == "" {
		return errors.New("-work is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dataDir := filepath.Join(*work, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	step("writing a %d MiB synthetic data dir", *sizeMiB)
	spec := bundletest.Large("demo", *sizeMiB<<20)
	if err := bundletest.Write(dataDir, spec); err != nil {
		return err
	}

	step("starting the server (warms the cache, writes the anchor file)")
	srv, err := startServer(ctx, dataDir, *work)
	if err != nil {
		return err
	}
	defer srv.stop()
	client, err := newClient(srv.info.CertFile)
	if err != nil {
		return err
	}
	r := &report{info: srv.info, spec: spec, mbps: map[string][]float64{}, ttfb: map[string][]time.Duration{}}

	// The idle server's RSS, right after start-up: growth is measured from here.
	baseline, err := procStatus(srv.pid(), "VmRSS")
	if err != nil {
		return err
	}

	step("peak RSS growth: 1 download")
	r.rss1, err = peakGrowth(srv.pid(), baseline, func() error {
		_, err := download(ctx, client, srv.info.URL+"/bundle", nil)
		return err
	})
	if err != nil {
		return err
	}

	step("peak RSS growth: %d concurrent downloads (at most %s)", *concurrent, *budget)
	r.concurrent = *concurrent
	r.rssN, err = peakGrowth(srv.pid(), baseline, func() error {
		cctx, ccancel := context.WithTimeout(ctx, *budget)
		defer ccancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		started := time.Now()
		for range *concurrent {
			wg.Go(func() {
				d, err := download(cctx, client, srv.info.URL+"/bundle", nil)
				mu.Lock()
				defer mu.Unlock()
				r.concurrentBytes += d.bytes
				if err == nil {
					r.concurrentDone++
				} else if cctx.Err() == nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		r.concurrentTime = time.Since(started)
		return errors.Join(errs...)
	})
	if err != nil {
		return err
	}
	step("checking that /bundle and /anchor serve the same bytes")
	var sums [2][]byte
	for i, path := range []string{"/bundle", "/anchor"} {
		h := sha256.New()
		if _, err := download(ctx, client, srv.info.URL+path, h); err != nil {
			return err
		}
		sums[i] = h.Sum(nil)
	}
	if string(sums[0]) != string(sums[1]) {
		return errors.New("the bundle and the anchor differ")
	}

	step("throughput: %d alternating downloads of each", *rounds)
	for i := range *rounds {
		order := []string{"/bundle", "/anchor"}
		if i%2 == 1 {
			slices.Reverse(order) // neither side always runs first
		}
		for _, path := range order {
			d, err := download(ctx, client, srv.info.URL+path, nil)
			if err != nil {
				return err
			}
			r.mbps[path] = append(r.mbps[path], mbps(srv.info.BundleSize, d.total))
		}
	}

	step("first-byte latency: 20 requests of each")
	for range 20 {
		for _, path := range []string{"/bundle", "/anchor"} {
			ttfb, err := firstByte(ctx, client, srv.info.URL+path)
			if err != nil {
				return err
			}
			r.ttfb[path] = append(r.ttfb[path], ttfb)
		}
	}

	srv.stop()
	r.print(os.Stdout)
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

type server struct {
	cmd  *exec.Cmd
	info readyInfo
	once sync.Once
}

func startServer(ctx context.Context, dataDir, work string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve", "-data-dir", dataDir, "-work", work)
	cmd.Stderr = os.Stderr
	// The server dies with us, whatever happens to this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &s.info)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("server did not start: %w", err)
		}
		return s, nil
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	})
}

func newClient(certFile string) (*http.Client, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("bad server certificate")
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}}, nil
}

type downloadResult struct {
	bytes int64
	total time.Duration
}

// download reads one whole response, hashing it into h when h is not nil.
func download(ctx context.Context, client *http.Client, url string, h hash.Hash) (downloadResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return downloadResult{}, err
	}
	started := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return downloadResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return downloadResult{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var w io.Writer = io.Discard
	if h != nil {
		w = h
	}
	n, err := io.CopyBuffer(w, struct{ io.Reader }{resp.Body}, make([]byte, 256<<10))
	res := downloadResult{bytes: n, total: time.Since(started)}
	if err == nil && n != resp.ContentLength {
		err = fmt.Errorf("GET %s: %d bytes, Content-Length %d", url, n, resp.ContentLength)
	}
	return res, err
}

// firstByte times from the request being written to the first body byte
// (the TLS handshake is excluded: it is the same for any handler).
func firstByte(ctx context.Context, client *http.Client, url string) (time.Duration, error) {
	var wrote time.Time
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		return 0, err
	}
	return time.Since(wrote), nil
}

// peakGrowth runs fn and returns how far the server's peak RSS rose above
// baseline (its idle RSS) while fn ran. The kernel's high-water mark is reset
// first (clear_refs 5); where that is not allowed, RSS is sampled every 5 ms.
func peakGrowth(pid int, baseline int64, fn func() error) (int64, error) {
	resetOK := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	var sampled int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := procStatus(pid, "VmRSS"); err == nil {
					sampled = max(sampled, v)
				}
			}
		}
	})
	err := fn()
	close(stop)
	wg.Wait()
	if err != nil {
		return 0, err
	}
	peak := sampled
	if resetOK {
		if hwm, err := procStatus(pid, "VmHWM"); err == nil {
			peak = max(peak, hwm)
		}
	}
	return max(0, peak-baseline), nil
}

// procStatus reads one "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

type report struct {
	info            readyInfo
	spec            bundletest.Spec
	mbps            map[string][]float64
	ttfb            map[string][]time.Duration
	rss1, rssN      int64
	concurrent      int
	concurrentDone  int
	concurrentBytes int64
	concurrentTime  time.Duration
}

func (r *report) print(w io.Writer) {
	const mib = 1 << 20
	medianOf := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	// The machine is shared and noisy: each round's two downloads ran back to
	// back, so the median of the per-round ratios is the steadiest figure.
	var ratios []float64
	for i := range r.mbps["/bundle"] {
		ratios = append(ratios, r.mbps["/bundle"][i]/r.mbps["/anchor"][i])
	}
	ratio := medianOf(ratios)
	median := func(p string) time.Duration {
		s := slices.Clone(r.ttfb[p])
		slices.Sort(s)
		return s[len(s)/2]
	}
	worst := func(p string) time.Duration { return slices.Max(r.ttfb[p]) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var images int64
	for _, n := range r.spec.Images {
		images += n
	}

	fmt.Fprintf(w, "\n## join-bundle benchmark (%s, %d cores, %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "Bundle %.2f GiB from a synthetic data dir (%d MiB compressible binary, %d MiB incompressible image tarballs); "+
		"cache warmed in %.1f s; TLS on 127.0.0.1, HTTP/1.1, Go client.\n\n",
		float64(r.info.BundleSize)/(1<<30), r.spec.BinarySize/mib, images/mib, r.info.WarmSecs)
	fmt.Fprintln(w, "| metric | join-bundle (Store) | anchor: http.ServeContent of the same bytes in one file | ratio | goal | |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| MB/s, median of %d rounds (ratio: median of per-round ratios %s) | %.0f | %.0f | %.2f | ≥ 0.9 | %s |\n",
		len(ratios), fmtAll(ratios, 2), medianOf(r.mbps["/bundle"]), medianOf(r.mbps["/anchor"]), ratio, verdict(ratio >= 0.9))
	fmt.Fprintf(w, "| first-byte latency, warm cache, median (max) of %d | %s (%s) | %s (%s) | — | < 100 ms | %s |\n",
		len(r.ttfb["/bundle"]), ms(median("/bundle")), ms(worst("/bundle")), ms(median("/anchor")), ms(worst("/anchor")),
		verdict(worst("/bundle") < 100*time.Millisecond))
	fmt.Fprintf(w, "| peak RSS growth, 1 download | %.1f MiB | — | — | ≤ 64 MiB | %s |\n",
		float64(r.rss1)/mib, verdict(r.rss1 <= 64*mib))
	fmt.Fprintf(w, "| peak RSS growth, %d concurrent downloads (%d complete, %.1f GiB in %.0f s) | %.1f MiB | — | — | ≤ 64 MiB | %s |\n",
		r.concurrent, r.concurrentDone, float64(r.concurrentBytes)/(1<<30), r.concurrentTime.Seconds(),
		float64(r.rssN)/mib, verdict(r.rssN <= 64*mib))
	var pairs []string
	for i := range ratios {
		pairs = append(pairs, fmt.Sprintf("%.0f/%.0f", r.mbps["/bundle"][i], r.mbps["/anchor"][i]))
	}
	fmt.Fprintf(w, "\nPer round, MB/s join-bundle/anchor: %s.\n", strings.Join(pairs, ", "))
}

func fmtAll(v []float64, prec int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', prec, 64)
	}
	return strings.Join(s, "/")
}
