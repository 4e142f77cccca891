package serve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/internal/tlsutil"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestFaults breaks what the daemon depends on while it works — the
// kube-apiserver, bundle source files, its certificate files, its own
// shutdown — and then checks that nothing it started is left running.
func TestFaults(t *testing.T) {
	// A daemon first: client-go keeps one transport per cluster config for
	// the life of the process, and what it starts once is no leak.
	warm := startLaunched(t, env)
	warm.login(t, password)
	if err := warm.stop(); err != nil {
		t.Fatalf("warm-up daemon: %v", err)
	}
	before := goleak.IgnoreCurrent()

	t.Run("KubeAPIServerDownDuringJoin", testKubeAPIServerDownDuringJoin)
	t.Run("BundleSourceTruncatedOrRemoved", testBundleSourceChangesMidDownload)
	t.Run("CertificateReplacedUnderLoad", testCertificateReplacedUnderLoad)
	t.Run("ShutdownDrainsDownloads", testShutdownDrainsDownloads)

	if t.Failed() {
		return // a failed step leaves things running on purpose: no leak report
	}
	checkNoGoroutineLeak(t, before)
}

// checkNoGoroutineLeak waits for goroutines started since before to end.
// Pooled client connections (ours to the daemons, client-go's to the
// kube-apiserver) close on their own schedule and are not the daemon's.
func checkNoGoroutineLeak(t *testing.T, before goleak.Option) {
	t.Helper()
	opts := []goleak.Option{
		before,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left running after the daemons stopped:\n%v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// launched is a daemon whose shutdown the test controls.
type launched struct {
	*testDaemon
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// stop cancels the daemon's context, as SIGTERM does, and returns what
// wait returned; it may be called more than once.
func (l *launched) stop() error {
	l.stopOnce.Do(func() {
		l.cancel()
		l.stopErr = <-l.done
	})
	return l.stopErr
}

// prepareDaemon writes a sample data dir and the options startDaemon uses.
func prepareDaemon(t *testing.T, e *testenv.Env, mods ...func(*ServeOptions)) *ServeOptions {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	opts := &ServeOptions{
		IO: ios, APIPort: 30081, BindAddress: "127.0.0.1", DataDir: dataDir, Kubeconfig: e.Kubeconfig,
		PasswordSecret: "kotsadm/kotsadm-password", Namespace: "embedded-cluster", LogFormat: "json", LogLevel: "info",
	}
	for _, m := range mods {
		m(opts)
	}
	if err := opts.complete(); err != nil {
		t.Fatal(err)
	}
	opts.APIPort = 0
	return opts
}

// launch starts a daemon without touching t, so tests may start several
// at once from goroutines.
func launch(opts *ServeOptions) (*launched, error) {
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := start(ctx, opts, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		cancel()
		return nil, err
	}
	l := &launched{
		testDaemon: &testDaemon{daemon: d, URL: "https://" + d.addr.String(), DataDir: opts.DataDir, logs: logs},
		cancel:     cancel,
		done:       make(chan error, 1),
	}
	go func() { l.done <- d.wait(ctx) }()
	return l, nil
}

// adopt stops l when t ends and gives it a client trusting its certificate.
func adopt(t *testing.T, l *launched, opts *ServeOptions) {
	t.Helper()
	t.Cleanup(func() {
		if err := l.stop(); err != nil {
			t.Errorf("serve stopped with: %v", err)
		}
	})
	ca := opts.TLSCertFile
	if ca == "" {
		ca = filepath.Join(opts.DataDir, "ecapi", "tls.crt")
	}
	l.client = trustingClient(t, ca)
}

func startLaunched(t *testing.T, e *testenv.Env, mods ...func(*ServeOptions)) *launched {
	t.Helper()
	opts := prepareDaemon(t, e, mods...)
	l, err := launch(opts)
	if err != nil {
		t.Fatalf("start serve: %v", err)
	}
	adopt(t, l, opts)
	return l
}

// startOwnCluster is a control plane for one test, seeded like the shared one.
func startOwnCluster(t *testing.T) *testenv.Env {
	t.Helper()
	own, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := own.Stop(); err != nil {
			t.Errorf("stop the test's control plane: %v", err)
		}
	})
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if err := own.SeedCluster(ctx, password); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.CreateNode(ctx, own.Client, testenv.NodeSpec{Name: "controller-0", InternalIP: "127.0.0.1", Ready: true, Labels: testenv.ControllerLabels("controller")}); err != nil {
		t.Fatal(err)
	}
	return own
}

// testKubeAPIServerDownDuringJoin: create-join-command and bundle downloads
// answer 503 JSON while the kube-apiserver is down and work again once it
// is back, without a restart of the daemon.
func testKubeAPIServerDownDuringJoin(t *testing.T) {
	own := startOwnCluster(t)
	d := startLaunched(t, own)
	login := d.login(t, password)
	jt := joinToken(t, d.mustCreateJoin(t, login, `{"roles":["controller"]}`))
	if r := d.do(t, "GET", controllerBundle, jt, ""); r.Status != http.StatusOK {
		t.Fatalf("download before the outage: %d %s", r.Status, r.Body)
	}

	if err := own.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	create := func() response {
		return d.do(t, "POST", api.PathCreateJoinCommand, login, `{"roles":["controller"]}`, jsonCT)
	}
	eventually(t, 15*time.Second, "create-join-command answers 503 while the kube-apiserver is down", func() bool {
		return create().Status == http.StatusServiceUnavailable
	})
	wantError(t, create(), http.StatusServiceUnavailable, "")
	wantError(t, d.do(t, "GET", controllerBundle, jt, ""), http.StatusServiceUnavailable, "")
	if r := d.do(t, "GET", api.PathHealth, "", ""); r.Status != http.StatusOK {
		t.Fatalf("health while the kube-apiserver is down: %d %s", r.Status, r.Body)
	}

	if err := own.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 60*time.Second, "create-join-command works again after the kube-apiserver restarts", func() bool {
		return create().Status == http.StatusOK
	})
	t.Logf("create-join-command recovered %s after the kube-apiserver came back", took)
	if r := d.do(t, "GET", controllerBundle, jt, ""); r.Status != http.StatusOK {
		t.Fatalf("download with the pre-outage token after recovery: %d %s", r.Status, r.Body)
	}
}

// writeIncompressible writes size bytes of random-looking data: the bundle
// store streams such files straight from the source at download time
// instead of compressing them into its cache, so faults in the source file
// reach the download.
func writeIncompressible(t *testing.T, path string, size int) {
	t.Helper()
	block := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{7})
	if _, err := rng.Read(block); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for written := 0; written < size; written += len(block) {
		if _, err := f.Write(block[:min(len(block), size-written)]); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// streamingClient has no overall timeout (the request's context bounds it)
// and its own connections.
func streamingClient(d *launched) *http.Client {
	base := d.client.Transport.(*http.Transport)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: base.TLSClientConfig.Clone()}}
}

// openDownload starts GET url and reads the first `head` bytes of the body.
func openDownload(ctx context.Context, t *testing.T, c *http.Client, url, token string, head int) (*http.Response, int64) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= int64(head) {
		resp.Body.Close()
		t.Fatalf("GET %s: %d with Content-Length %d, want 200 and more than %d bytes", url, resp.StatusCode, resp.ContentLength, head)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, head)); err != nil {
		resp.Body.Close()
		t.Fatalf("read the first %d bytes: %v", head, err)
	}
	return resp, int64(head)
}

// testBundleSourceChangesMidDownload truncates, then removes, the file a
// download is streaming: the download ends early with an error instead of
// hanging or completing with other bytes, and the daemon serves on.
func testBundleSourceChangesMidDownload(t *testing.T) {
	const bigSize = 200 << 20
	var bigFile string
	d := startLaunched(t, env, func(o *ServeOptions) {
		bigFile = filepath.Join(o.DataDir, "images", "fault-images-a.tar")
		writeIncompressible(t, bigFile, bigSize)
	})
	login := d.login(t, password)
	url := d.URL + controllerBundle
	const head = 8 << 20 // past the sample files, inside the big one

	for _, fault := range []struct {
		name  string
		size  int
		apply func(path string) error
	}{
		{"truncated", bigSize, func(p string) error { return os.Truncate(p, 0) }},
		{"removed", 64 << 20, os.Remove},
	} {
		if fault.name != "truncated" {
			bigFile = filepath.Join(d.DataDir, "images", "fault-images-"+fault.name+".tar")
			writeIncompressible(t, bigFile, fault.size)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		resp, got := openDownload(ctx, t, streamingClient(d), url, login, head)
		if err := fault.apply(bigFile); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		got += n
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("%s source: the download hung (%d of %d bytes after 2 minutes)", fault.name, got, resp.ContentLength)
		case err == nil || got >= resp.ContentLength:
			t.Fatalf("%s source: the download completed (%d of %d bytes, err %v); want it cut short", fault.name, got, resp.ContentLength, err)
		}
		t.Logf("%s source: download ended after %d of %d bytes with %v", fault.name, got, resp.ContentLength, err)

		if r := d.do(t, "GET", api.PathHealth, "", ""); r.Status != http.StatusOK {
			t.Fatalf("health after a %s source: %d %s", fault.name, r.Status, r.Body)
		}
		r := d.do(t, "GET", controllerBundle, login, "")
		if r.Status != http.StatusOK || strconv.Itoa(len(r.Body)) != r.Header.Get("Content-Length") {
			t.Fatalf("a new download after a %s source: %d, %d bytes of %s", fault.name, r.Status, len(r.Body), r.Header.Get("Content-Length"))
		}
		if _, ok := untar(t, r.Body)["embedded-cluster/images/images-amd64.tar"]; !ok {
			t.Fatalf("the new download after a %s source is not a complete bundle", fault.name)
		}
	}
}

// replaceFile copies src over dst with mode, atomically (write, then rename).
func replaceFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func certPin(t *testing.T, certFile string) (string, *x509.Certificate) {
	t.Helper()
	cert, err := tlsutil.ParseFirstCertificate(readFile(t, certFile))
	if err != nil {
		t.Fatal(err)
	}
	return tlsutil.SPKIPin(cert), cert
}

// testCertificateReplacedUnderLoad swaps the served key pair while clients
// hammer /v1/health over kept-alive and fresh connections: no request
// fails, and new handshakes get the new certificate.
func testCertificateReplacedUnderLoad(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"127.0.0.1", "localhost"}
	oldCert, oldKey, _, err := tlsutil.EnsureSelfSigned(filepath.Join(dir, "old"), hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newCert, newKey, _, err := tlsutil.EnsureSelfSigned(filepath.Join(dir, "new"), hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	oldPin, oldX509 := certPin(t, oldCert)
	newPin, newX509 := certPin(t, newCert)
	if oldPin == newPin {
		t.Fatal("the two certificates share a key")
	}
	live := filepath.Join(dir, "live")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	liveCert, liveKey := filepath.Join(live, "tls.crt"), filepath.Join(live, "tls.key")
	replaceFile(t, oldKey, liveKey, 0o600)
	replaceFile(t, oldCert, liveCert, 0o644)

	d := startLaunched(t, env, func(o *ServeOptions) { o.TLSCertFile, o.TLSKeyFile = liveCert, liveKey })
	if d.pin != oldPin {
		t.Fatalf("daemon serves pin %s, want the old certificate's %s", d.pin, oldPin)
	}
	roots := x509.NewCertPool()
	roots.AddCert(oldX509)
	roots.AddCert(newX509)
	tlsConf := &tls.Config{RootCAs: roots}
	d.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}

	// Keep-alive clients hold their connections across the swap; fresh
	// clients handshake per request and see whichever pair is served.
	var (
		requests, failures atomic.Int64
		pinsMu             sync.Mutex
		pinsSeen           = map[string]int{}
		firstFailure       atomic.Value
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
	)
	hammer := func(keepAlive bool) {
		defer wg.Done()
		tr := &http.Transport{TLSClientConfig: tlsConf.Clone(), DisableKeepAlives: !keepAlive}
		defer tr.CloseIdleConnections()
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(d.URL + api.PathHealth)
			requests.Add(1)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				failures.Add(1)
				firstFailure.CompareAndSwap(nil, err.Error())
				continue
			}
			if !keepAlive {
				pinsMu.Lock()
				pinsSeen[tlsutil.SPKIPin(resp.TLS.PeerCertificates[0])]++
				pinsMu.Unlock()
			}
		}
	}
	for i := range 12 {
		wg.Add(1)
		go hammer(i%3 != 0)
	}
	eventually(t, 20*time.Second, "load before the swap", func() bool { return requests.Load() > 300 })

	// Key first, then certificate: each rename is atomic; between the two
	// the pair does not match and the daemon keeps serving the old one.
	replaceFile(t, newKey, liveKey, 0o600)
	replaceFile(t, newCert, liveCert, 0o644)
	swapped := requests.Load()
	fresh := func() string {
		tr := &http.Transport{TLSClientConfig: tlsConf.Clone(), DisableKeepAlives: true}
		resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Get(d.URL + api.PathHealth)
		if err != nil {
			t.Fatalf("fresh connection after the swap: %v", err)
		}
		resp.Body.Close()
		return tlsutil.SPKIPin(resp.TLS.PeerCertificates[0])
	}
	took := eventually(t, 15*time.Second, "new connections get the new certificate", func() bool { return fresh() == newPin })
	t.Logf("new certificate served %s after the files were replaced", took)
	eventually(t, 20*time.Second, "load after the swap", func() bool { return requests.Load() > swapped+300 })
	close(stop)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the certificate swap; first: %v", n, requests.Load(), firstFailure.Load())
	}
	pinsMu.Lock()
	defer pinsMu.Unlock()
	if len(pinsSeen) != 2 || pinsSeen[oldPin] == 0 || pinsSeen[newPin] == 0 {
		t.Errorf("fresh handshakes saw pins %v; want both the old (%s) and new (%s) one", pinsSeen, oldPin, newPin)
	}
	t.Logf("%d requests, none failed; fresh handshakes per pin: %v", requests.Load(), pinsSeen)

	// Join commands pin the key served now.
	resp := d.mustCreateJoin(t, d.login(t, password), `{"roles":["controller"]}`)
	if resp.Pin != newPin {
		t.Errorf("join command pins %s after the swap, want %s", resp.Pin, newPin)
	}
}

// testShutdownDrainsDownloads cancels the daemon's context (what SIGTERM
// does in serveRun) while bundles are mid-stream: the daemon stops taking
// connections but lets every download finish, then wait returns nil.
func testShutdownDrainsDownloads(t *testing.T) {
	d := startLaunched(t, env, func(o *ServeOptions) {
		writeIncompressible(t, filepath.Join(o.DataDir, "images", "shutdown-images.tar"), 64<<20)
	})
	// One join token: its bundle's bytes are the same on every download.
	jt := joinToken(t, d.mustCreateJoin(t, d.login(t, password), `{"roles":["controller"]}`))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const downloads = 4
	bodies := make([]*http.Response, downloads)
	read := make([]int64, downloads)
	for i := range bodies {
		bodies[i], read[i] = openDownload(ctx, t, streamingClient(d), d.URL+controllerBundle, jt, 1<<20)
		defer bodies[i].Body.Close()
	}

	stopped := make(chan error, 1)
	go func() { stopped <- d.stop() }()
	// The daemon is draining: new connections are refused...
	eventually(t, 10*time.Second, "new connections refused once shutdown began", func() bool {
		tr := &http.Transport{TLSClientConfig: d.client.Transport.(*http.Transport).TLSClientConfig.Clone(), DisableKeepAlives: true}
		resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Get(d.URL + api.PathHealth)
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	// ...while the downloads, far larger than socket buffers, still hold
	// their handlers: wait cannot have returned.
	select {
	case err := <-stopped:
		t.Fatalf("the daemon stopped (%v) with downloads unfinished", err)
	default:
	}

	sums := make([]string, downloads)
	for i, resp := range bodies {
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		read[i] += n
		if err != nil || read[i] != resp.ContentLength {
			t.Fatalf("download %d during shutdown: %d of %d bytes, err %v", i, read[i], resp.ContentLength, err)
		}
		sums[i] = hex.EncodeToString(h.Sum(nil))
	}
	for i := range sums {
		if sums[i] != sums[0] {
			t.Errorf("download %d differs from download 0 (same join token, same bundle)", i)
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("wait after draining: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the daemon did not stop after its downloads finished")
	}
	t.Logf("%d downloads of %d bytes finished during shutdown", downloads, bodies[0].ContentLength)
}
