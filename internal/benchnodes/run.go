//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// settings are the knobs of one benchmark run.
type settings struct {
	nodes         int
	window        time.Duration
	latencyWindow time.Duration
	concurrency   int
	stormWorkers  int
	rounds        int
}

func run(args []string) error {
	fs := flag.NewFlagSet("benchnodes", flag.ContinueOnError)
	var s settings
	fs.IntVar(&s.nodes, "nodes", 1000, "realistic nodes to create")
	fs.DurationVar(&s.window, "duration", 10*time.Second, "length of each throughput run")
	fs.DurationVar(&s.latencyWindow, "latency-duration", 5*time.Second, "length of each /v1/health latency run")
	fs.IntVar(&s.concurrency, "concurrency", 16, "concurrent keep-alive clients of each throughput run")
	fs.IntVar(&s.stormWorkers, "storm-workers", 8, "goroutines sending wrong passwords during the login storm")
	fs.IntVar(&s.rounds, "rounds", 3, "interleaved rounds of every run; the report gives medians")
	ecapiBin := fs.String("ecapi", "", "ecapi binary to benchmark (default: build ./cmd/ecapi)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up and clean up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.nodes < 1 || s.concurrency < 1 || s.stormWorkers < 1 || s.rounds < 1 {
		return errors.New("-nodes, -concurrency, -storm-workers and -rounds must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	work, err := os.MkdirTemp("", "ecapi-benchnodes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if *ecapiBin == "" {
		step("building ecapi")
		if *ecapiBin, err = buildECAPI(ctx, work); err != nil {
			return err
		}
	}

	step("starting kube-apiserver and etcd")
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping kube-apiserver and etcd")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "benchnodes: stop control plane:", err)
		}
	}()
	password, err := randomPassword()
	if err != nil {
		return err
	}
	if err := env.SeedCluster(ctx, password); err != nil {
		return err
	}
	step("creating %d realistic nodes", s.nodes)
	started := time.Now()
	if err := testenv.CreateRealisticNodes(ctx, env.Client, s.nodes); err != nil {
		return err
	}
	step("created in %s", time.Since(started).Round(100*time.Millisecond))

	dataDir := filepath.Join(work, "data")
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		return err
	}
	step("starting ecapi serve")
	ecapi, err := startECAPI(ctx, *ecapiBin, dataDir, env.Kubeconfig, filepath.Join(work, "ecapi.log"))
	if err != nil {
		return err
	}
	defer ecapi.stop()

	b, err := prepare(ctx, s, env, ecapi, password, work)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, ecapi.logTail())
	}
	defer b.anchor.stop()

	r, err := b.measure(ctx)
	if err != nil {
		if ecapi.exited() != nil {
			err = fmt.Errorf("%w\n%s", err, ecapi.logTail())
		}
		return err
	}
	step("timing `ecapi nodes` against `kubectl get nodes` with hyperfine")
	if r.cli, err = measureCLI(ctx, *ecapiBin, ecapi.url, b.ecapiCert, b.token, env.Kubeconfig, work); err != nil {
		return err
	}
	r.print(os.Stdout)
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// bench holds the servers, clients and requests of the measurement.
type bench struct {
	settings
	anchor *anchorServer

	ecapiURL, ecapiCert string

	ecapiClient, kubeClient, anchorClient *http.Client
	probeClient                           *http.Client

	ecapiNodes, kubeNodes, anchorNodes request
	ecapiGzip, kubeGzip                request
	ecapiHealth, anchorHealth          request

	kubeVersion string
	kubeBytes   int64
	gzipBytes   int64
	token       string // a login token, for the CLI timing

	// coolDown asks settle to pause first: the last run loaded kube-apiserver.
	coolDown bool
	// unavailable is the longest ecapi answered /v1/nodes with 503 before
	// a run (see settle).
	unavailable time.Duration
}

// prepare logs in, checks that ecapi serves every node, fetches the bytes
// the anchor will serve and starts it.
func prepare(ctx context.Context, s settings, env *testenv.Env, ecapi *ecapiServer, password, work string) (*bench, error) {
	dataDir := filepath.Join(work, "data", "ecapi")
	b := &bench{settings: s, ecapiURL: ecapi.url, ecapiCert: filepath.Join(dataDir, "tls.crt")}
	ecapiTLS, err := trusting(ecapi.certPEM)
	if err != nil {
		return nil, err
	}
	b.ecapiClient = newClient(ecapiTLS, s.concurrency)
	b.probeClient = newClient(ecapiTLS, 1)

	token, err := login(ctx, b.ecapiClient, ecapi.url, password)
	if err != nil {
		return nil, err
	}
	b.token = token
	auth := identity()
	auth.Set("Authorization", "Bearer "+token)

	step("waiting for ecapi to list %d nodes", s.nodes)
	nodesBody, err := waitForNodes(ctx, b.ecapiClient, ecapi.url+api.PathNodes, auth, s.nodes)
	if err != nil {
		return nil, err
	}
	healthBody, err := get(ctx, b.ecapiClient, ecapi.url+api.PathHealth, identity())
	if err != nil {
		return nil, err
	}

	kubeTLS, err := rest.TLSConfigFor(env.Config)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver TLS config: %w", err)
	}
	b.kubeClient = newClient(kubeTLS, s.concurrency)
	kubeURL := strings.TrimSuffix(env.Config.Host, "/") + "/api/v1/nodes"
	kubeHeader := identity()
	kubeHeader.Set("Accept", "application/json")
	kubeBody, err := get(ctx, b.kubeClient, kubeURL, kubeHeader)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(kubeBody, &list); err != nil || len(list.Items) != s.nodes {
		return nil, fmt.Errorf("kube-apiserver listed %d nodes, want %d (%v)", len(list.Items), s.nodes, err)
	}
	b.kubeBytes = int64(len(kubeBody))
	if v, err := env.Client.Discovery().ServerVersion(); err == nil {
		b.kubeVersion = v.GitVersion
	}

	step("starting the anchor (bare Go TLS handler)")
	nodesFile, healthFile := filepath.Join(work, "nodes.json"), filepath.Join(work, "health.json")
	if err := os.WriteFile(nodesFile, nodesBody, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(healthFile, healthBody, 0o600); err != nil {
		return nil, err
	}
	b.anchor, err = startAnchor(ctx, b.ecapiCert, filepath.Join(dataDir, "tls.key"), nodesFile, healthFile)
	if err != nil {
		return nil, err
	}
	b.anchorClient = newClient(ecapiTLS, s.concurrency)
	anchorNodes, err := get(ctx, b.anchorClient, b.anchor.url+api.PathNodes, identity())
	if err != nil {
		b.anchor.stop()
		return nil, err
	}
	if string(anchorNodes) != string(nodesBody) {
		b.anchor.stop()
		return nil, errors.New("the anchor does not serve ecapi's /v1/nodes bytes")
	}

	getReq := func(url string, h http.Header, size int) request {
		return request{method: http.MethodGet, url: url, header: h, size: int64(size), ok: statusOK}
	}
	// Both sides compressed, as kubectl and client-go ask by default:
	// ecapi sends the copy it compressed once, kube-apiserver compresses
	// every response.
	gzipped := func(h http.Header) http.Header {
		h = h.Clone()
		h.Set("Accept-Encoding", "gzip")
		return h
	}
	gz, err := fetch(ctx, b.ecapiClient, ecapi.url+api.PathNodes, gzipped(auth), "gzip")
	if err != nil {
		b.anchor.stop()
		return nil, err
	}
	b.gzipBytes = int64(len(gz))
	b.ecapiGzip = request{method: http.MethodGet, url: ecapi.url + api.PathNodes, header: gzipped(auth), ok: statusOK, encoding: "gzip", size: b.gzipBytes}
	b.kubeGzip = request{method: http.MethodGet, url: kubeURL, header: gzipped(kubeHeader), ok: statusOK, encoding: "gzip"}
	b.ecapiNodes = getReq(ecapi.url+api.PathNodes, auth, len(nodesBody))
	b.anchorNodes = getReq(b.anchor.url+api.PathNodes, identity(), len(nodesBody))
	b.kubeNodes = getReq(kubeURL, kubeHeader, 0) // its resourceVersion may change its length
	b.ecapiHealth = getReq(ecapi.url+api.PathHealth, identity(), len(healthBody))
	b.anchorHealth = getReq(b.anchor.url+api.PathHealth, identity(), len(healthBody))

	return b, nil
}

// login fetches a token; it must run before the storm locks 127.0.0.1 out.
func login(ctx context.Context, client *http.Client, url, password string) (string, error) {
	body, _ := json.Marshal(api.TokenRequest{Password: password})
	h := identity()
	h.Set("Content-Type", "application/json")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+api.PathAuthToken, strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	var tr api.TokenResponse
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.Token == "" {
		return "", fmt.Errorf("login: no token in the answer (%v)", err)
	}
	return tr.Token, nil
}

// get fetches url and returns the body, which must be 200 and identity.
func get(ctx context.Context, client *http.Client, url string, h http.Header) ([]byte, error) {
	return fetch(ctx, client, url, h, "")
}

// fetch fetches url and returns the body as sent, which must be 200 and
// have the given Content-Encoding.
func fetch(ctx context.Context, client *http.Client, url string, h http.Header, encoding string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = h.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if got := resp.Header.Get("Content-Encoding"); resp.StatusCode != http.StatusOK || got != encoding {
		return nil, fmt.Errorf("GET %s: %s, Content-Encoding %q (want %q): %.200s", url, resp.Status, got, encoding, body)
	}
	return body, nil
}

// waitForNodes polls /v1/nodes until it lists want nodes.
func waitForNodes(ctx context.Context, client *http.Client, url string, h http.Header, want int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got := -1
	for {
		body, err := get(ctx, client, url, h)
		if err == nil {
			var nr api.NodesResponse
			if err := json.Unmarshal(body, &nr); err != nil {
				return nil, fmt.Errorf("decode /v1/nodes: %w", err)
			}
			if got = len(nr.Nodes); got == want {
				return body, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ecapi listed %d nodes, want %d (last error: %v): %w", got, want, err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// measure interleaves the runs: every round runs each side once, in an
// order that alternates, so drift in the machine's load hits both sides.
func (b *bench) measure(ctx context.Context) (*report, error) {
	r := &report{settings: b.settings, kubeVersion: b.kubeVersion, kubeBytes: b.kubeBytes,
		nodesBytes: b.ecapiNodes.size, gzipBytes: b.gzipBytes, loadAvg: loadAverage()}

	step("warming up (1 s each, not counted)")
	for _, w := range []struct {
		c   *http.Client
		req request
	}{{b.ecapiClient, b.ecapiNodes}, {b.kubeClient, b.kubeNodes}, {b.anchorClient, b.anchorNodes}} {
		if _, err := hammer(ctx, w.c, w.req, b.concurrency, time.Second); err != nil {
			return nil, err
		}
	}

	for round := range b.rounds {
		// Each group is one comparison; its runs alternate order by round.
		// kube-apiserver runs come after the ecapi/anchor pair they would
		// otherwise disturb, each followed by a cool-down (see settle).
		groups := [][]func() error{
			{
				b.throughput(ctx, "ecapi /v1/nodes", b.ecapiClient, b.ecapiNodes, &r.ecapiNodes),
				b.throughput(ctx, "anchor /v1/nodes", b.anchorClient, b.anchorNodes, &r.anchorNodes),
			},
			{
				b.throughput(ctx, "ecapi /v1/nodes gzip", b.ecapiClient, b.ecapiGzip, &r.ecapiGzip),
				b.throughput(ctx, "kube-apiserver /api/v1/nodes", b.kubeClient, b.kubeNodes, &r.kubeNodes),
				b.throughput(ctx, "kube-apiserver nodes gzip", b.kubeClient, b.kubeGzip, &r.kubeGzip),
			},
			{
				b.throughput(ctx, "ecapi /v1/health", b.ecapiClient, b.ecapiHealth, &r.ecapiHealth),
				b.throughput(ctx, "anchor /v1/health", b.anchorClient, b.anchorHealth, &r.anchorHealth),
			},
			{b.idleLatency(ctx, r), b.stormLatency(ctx, r)},
		}
		step("round %d of %d", round+1, b.rounds)
		for _, g := range groups {
			if round%2 == 1 {
				slices.Reverse(g)
			}
			for _, runOne := range g {
				if err := runOne(); err != nil {
					return nil, err
				}
			}
		}
	}
	r.unavailable = b.unavailable
	return r, nil
}

func (b *bench) throughput(ctx context.Context, name string, client *http.Client, req request, into *[]float64) func() error {
	return func() error {
		if err := b.settle(ctx); err != nil {
			return err
		}
		res, err := hammer(ctx, client, req, b.concurrency, b.window)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if client == b.kubeClient {
			b.coolDown = true
		}
		step("  %-30s %8.1f req/s", name, res.perSecond())
		*into = append(*into, res.perSecond())
		return nil
	}
}

// settle waits until ecapi serves /v1/nodes, and after a run against
// kube-apiserver also for kubeCoolDown: kube-apiserver goes on encoding
// cancelled lists and collecting their garbage for a while. Right after such
// a run the busy apiserver can miss ecapi's 1 s /readyz probe, and ecapi then
// answers 503 until a probe passes: that is measured and reported, and kept
// out of the throughput runs.
func (b *bench) settle(ctx context.Context) error {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		status, err := send(ctx, b.probeClient, request{
			method: b.ecapiNodes.method, url: b.ecapiNodes.url, header: b.ecapiNodes.header,
			ok: func(int) bool { return true },
		})
		if err == nil && status == http.StatusOK {
			break
		}
		if err == nil && status != http.StatusServiceUnavailable {
			return fmt.Errorf("ecapi /v1/nodes answered %d", status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ecapi /v1/nodes did not recover within a minute (last: %d, %v)", status, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.unavailable = max(b.unavailable, time.Since(started))
	if b.coolDown {
		b.coolDown = false
		select {
		case <-time.After(time.Until(started.Add(kubeCoolDown))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// kubeCoolDown is the pause after a run against kube-apiserver.
const kubeCoolDown = 3 * time.Second

// stormRamp lets the storm reach full speed before the probe starts.
const stormRamp = 500 * time.Millisecond

// idleLatency probes /v1/health from one client with nothing else running.
func (b *bench) idleLatency(ctx context.Context, r *report) func() error {
	return func() error {
		if err := b.settle(ctx); err != nil {
			return err
		}
		res, err := hammer(ctx, b.probeClient, b.ecapiHealth, 1, b.latencyWindow)
		if err != nil {
			return fmt.Errorf("idle /v1/health probe: %w", err)
		}
		step("  %-30s p99 %s", "/v1/health idle", res.quantile(0.99))
		r.idleP99 = append(r.idleP99, res.quantile(0.99))
		return nil
	}
}

// stormLatency probes /v1/health from one client while another process
// sends wrong passwords from stormWorkers clients.
func (b *bench) stormLatency(ctx context.Context, r *report) func() error {
	return func() error {
		if err := b.settle(ctx); err != nil {
			return err
		}
		wait, err := startStorm(b.ecapiURL, b.ecapiCert, b.stormWorkers, stormRamp+b.latencyWindow+stormRamp)
		if err != nil {
			return err
		}
		select {
		case <-time.After(stormRamp):
		case <-ctx.Done():
		}
		probe, probeErr := hammer(ctx, b.probeClient, b.ecapiHealth, 1, b.latencyWindow)
		storm, stormErr := wait()
		if err := errors.Join(probeErr, stormErr); err != nil {
			return fmt.Errorf("/v1/health during a login storm: %w", err)
		}
		step("  %-30s p99 %s (storm: %.0f req/s, statuses %v)", "/v1/health during storm", probe.quantile(0.99), storm.PerSecond, storm.Statuses)
		r.stormP99 = append(r.stormP99, probe.quantile(0.99))
		r.stormRates = append(r.stormRates, storm.PerSecond)
		if r.stormStatuses == nil {
			r.stormStatuses = map[string]int{}
		}
		for status, n := range storm.Statuses {
			r.stormStatuses[status] += n
		}
		return nil
	}
}
