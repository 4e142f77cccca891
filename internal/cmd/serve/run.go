package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/bundle"
	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/join"
	"github.com/ecapi/ecapi/internal/kube"
	"github.com/ecapi/ecapi/internal/license"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/internal/server"
	"github.com/ecapi/ecapi/internal/tlsutil"
)

// Start-up and shutdown bounds.
const (
	syncTimeout   = 30 * time.Second
	shutdownGrace = 30 * time.Second
	lockoutMax    = 5
	lockoutWindow = 15 * time.Minute
)

func serveRun(cmd *cobra.Command, opts *ServeOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, err := newLogger(opts.IO.ErrOut, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return err
	}
	d, err := start(ctx, opts, logger)
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w; grant ecapi's Kubernetes identity this permission (RBAC: scripts/kubernetes/rbac.yaml lists every one it needs)", err)
	}
	if err != nil {
		return err
	}
	return d.wait(ctx)
}

// daemon is a started ecapi serve.
type daemon struct {
	addr    net.Addr
	pin     string
	logger  *slog.Logger
	api     *http.Server
	metrics *http.Server
	errs    chan error
	cancel  context.CancelFunc
	bg      *background
}

// background tracks goroutines that must end before the daemon returns.
type background struct{ sync.WaitGroup }

// Go runs f in a tracked goroutine.
func (b *background) Go(f func()) {
	b.Add(1)
	go func() {
		defer b.Done()
		f()
	}()
}

func start(parent context.Context, opts *ServeOptions, logger *slog.Logger) (*daemon, error) {
	info := build.Get()
	logger.Info("starting ecapi serve", "version", info.Version, "commit", info.Commit)

	roles, err := ecconfig.Load(opts.ECConfig)
	if err != nil {
		return nil, fmt.Errorf("load EC config (--ec-config): %w", err)
	}
	lic, err := license.Load(opts.License)
	if err != nil {
		return nil, fmt.Errorf("load license (--license): %w", err)
	}
	logger.Info("configuration loaded", "roles", roles.Names(), "appSlug", lic.AppSlug, "multiNode", lic.MultiNode)

	restCfg, source, err := kube.RESTConfig(opts.Kubeconfig, opts.DataDir)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	logger.Info("using Kubernetes API", "host", restCfg.Host, "config", source)

	// The daemon's own work (watches, cache builds, renewals) outlives the
	// signal that stops serve: it ends only after in-flight requests have
	// drained (daemon.wait cancels it then).
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	// A signal during start-up still aborts it.
	defer context.AfterFunc(parent, cancel)()
	// Background work (cache warming, renewal, watches) ends with ctx and
	// is waited for, so nothing writes to the data dir after serve returns.
	bg := &background{}
	ok := false
	defer func() {
		if !ok {
			cancel()
			bg.Wait()
		}
	}()

	bind, advertise, err := resolveAddresses(ctx, client, opts, logger)
	if err != nil {
		return nil, err
	}
	certs, err := loadCertificate(ctx, bg, opts, bind, advertise, logger)
	if err != nil {
		return nil, err
	}

	authSvc, err := newAuth(ctx, client, opts)
	if err != nil {
		return nil, err
	}
	nodeCache := nodes.NewCache(client, roles, logger)
	bg.Go(func() { nodeCache.Run(ctx) })
	syncCtx, syncCancel := context.WithTimeout(ctx, syncTimeout)
	synced := nodeCache.WaitForSync(syncCtx)
	syncCancel()
	if !synced {
		return nil, fmt.Errorf("could not list nodes within %s: check that the kube-apiserver at %s is up and that ecapi may list and watch nodes", syncTimeout, restCfg.Host)
	}

	addr := net.JoinHostPort(bind, strconv.Itoa(opts.APIPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--bind-address, --api-port): %w", addr, err)
	}
	addr = ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port

	metrics := server.NewMetrics()
	srv := server.New(server.Config{Logger: logger, Metrics: metrics, Auth: authSvc, Nodes: nodeCache, Build: info})
	joins, err := newJoins(ctx, bg, client, opts, roles, lic, nodeCache, authSvc.Tokens, advertise, port, certs.Pin, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv.EnableJoins(joins)

	d := &daemon{addr: ln.Addr(), pin: certs.Pin(), logger: logger, errs: make(chan error, 2), cancel: cancel, bg: bg}
	d.api = srv.HTTPServer(addr, server.TLSConfig(certs.GetCertificate))
	go func() { d.errs <- serveErr("API", d.api.ServeTLS(ln, "", "")) }()
	logger.Info("serving the API", "address", "https://"+addr, "advertise", advertise, "pin", certs.Pin())

	if opts.MetricsAddress != "" {
		mln, err := listenMetrics(opts)
		if err != nil {
			d.api.Close()
			return nil, err
		}
		d.metrics = &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: server.ReadHeaderTimeout}
		go func() { d.errs <- serveErr("metrics", d.metrics.Serve(mln)) }()
		logger.Info("serving metrics", "address", "http://"+mln.Addr().String()+"/metrics")
	}
	ok = true
	return d, nil
}

func serveErr(what string, err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s server: %w", what, err)
}

// wait runs until a signal or a server failure, then shuts down gracefully.
func (d *daemon) wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
		d.logger.Info("shutting down", "grace", shutdownGrace.String())
	case err = <-d.errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shutdownErr := d.api.Shutdown(sctx)
	if d.metrics != nil {
		shutdownErr = errors.Join(shutdownErr, d.metrics.Shutdown(sctx))
	}
	d.cancel()
	d.bg.Wait()
	if err != nil {
		return err
	}
	if shutdownErr != nil {
		return fmt.Errorf("graceful shutdown: %w", shutdownErr)
	}
	d.logger.Info("stopped")
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, o)), nil
	}
	return slog.New(slog.NewJSONHandler(w, o)), nil
}

// resolveAddresses picks the listen and advertise addresses: the flags, or
// this node's InternalIP.
func resolveAddresses(ctx context.Context, client kubernetes.Interface, opts *ServeOptions, logger *slog.Logger) (bind, advertise string, err error) {
	bind, advertise = opts.BindAddress, opts.AdvertiseAddress
	for _, a := range []struct{ flag, v string }{{"--bind-address", bind}, {"--advertise-address", advertise}} {
		if a.v != "" && net.ParseIP(a.v) == nil {
			return "", "", fmt.Errorf("%s %q is not an IP address", a.flag, a.v)
		}
	}
	if advertise != "" {
		if err := checkLocalAddress(advertise); err != nil {
			if !opts.AdvertiseAddressForce {
				return "", "", err
			}
			logger.Warn("advertising an address of another host (--advertise-address-force)", "advertise", advertise)
		}
	}
	if bind != "" && advertise == "" && !net.ParseIP(bind).IsUnspecified() {
		advertise = bind
	}
	if bind != "" && advertise != "" {
		logger.Info("addresses from flags", "bind", bind, "advertise", advertise)
		return bind, advertise, nil
	}
	name := opts.NodeName
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return "", "", fmt.Errorf("find this node's name (pass --node-name or --bind-address): %w", err)
		}
	}
	ip, err := nodeInternalIP(ctx, client, name)
	if err != nil {
		return "", "", fmt.Errorf("find the address to listen on: %w; pass --bind-address (and --advertise-address) or --node-name", err)
	}
	if bind == "" {
		bind = ip
	}
	if advertise == "" {
		advertise = ip
	}
	logger.Info("addresses from this node's InternalIP", "node", name, "bind", bind, "advertise", advertise)
	return bind, advertise, nil
}

// checkLocalAddress refuses an advertise address this host does not have:
// join commands would send new nodes to some other machine (k0s#704).
func checkLocalAddress(advertise string) error {
	want := net.ParseIP(advertise)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list this host's addresses to check --advertise-address: %w", err)
	}
	var have []string
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ipnet.IP.Equal(want) {
			return nil
		}
		have = append(have, ipnet.IP.String())
	}
	const shown = 8
	if len(have) > shown {
		have = append(have[:shown], "…")
	}
	return fmt.Errorf("--advertise-address %s is not an address of this host (it has %s): new nodes would be sent elsewhere; pass one of this host's addresses, or add --advertise-address-force when %s reaches this host through NAT or a load balancer",
		advertise, strings.Join(have, ", "), advertise)
}

func nodeInternalIP(ctx context.Context, client kubernetes.Interface, name string) (string, error) {
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("node %q not found", name)
		}
		return "", fmt.Errorf("get node %q: %w", name, err)
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" {
			return a.Address, nil
		}
	}
	return "", fmt.Errorf("node %q has no InternalIP", name)
}

// renewCheckEvery is how often a self-signed certificate is checked for
// renewal; renewal starts tlsutil.RenewBefore (30 days) ahead of expiry, so
// a daemon never serves an expired one.
const renewCheckEvery = 12 * time.Hour

// loadCertificate serves the given pair, or a self-signed one kept under
// <data-dir>/ecapi/ and renewed in the background while ctx lasts.
func loadCertificate(ctx context.Context, bg *background, opts *ServeOptions, bind, advertise string, logger *slog.Logger) (*tlsutil.Reloader, error) {
	certFile, keyFile := opts.TLSCertFile, opts.TLSKeyFile
	if certFile == "" {
		hosts := []string{advertise, "localhost"}
		if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
			hosts = append(hosts, bind)
		}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		dir := filepath.Join(opts.DataDir, "ecapi")
		var renewed bool
		var err error
		certFile, keyFile, renewed, err = tlsutil.EnsureSelfSigned(dir, hosts, time.Now())
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate in %s: %w", dir, err)
		}
		logger.Info("using self-signed certificate", "cert", certFile, "issued", renewed)
		bg.Go(func() { renewSelfSigned(ctx, dir, hosts, renewCheckEvery, logger) })
	}
	r, err := tlsutil.NewReloader(certFile, keyFile, logger)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// renewSelfSigned re-issues the self-signed certificate when it nears
// expiry. The key stays, so pins in join commands and saved logins stay
// valid; the Reloader serves the new file on the next handshake.
func renewSelfSigned(ctx context.Context, dir string, hosts []string, every time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, _, renewed, err := tlsutil.EnsureSelfSigned(dir, hosts, time.Now())
		switch {
		case err != nil:
			logger.Warn("renew the self-signed certificate (the current one is kept)", "dir", dir, "err", err)
		case renewed:
			logger.Info("renewed the self-signed certificate with the same key: the pin is unchanged", "dir", dir)
		}
	}
}

// bcryptWorkers leaves one core to the rest of the API, so a password
// guessing storm cannot starve /v1/health and /v1/nodes.
func bcryptWorkers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// newJoins wires the join service: seed key, bundle store (warmed in the
// background so the first download does not compress GBs), tokens.
func newJoins(ctx context.Context, bg *background, client kubernetes.Interface, opts *ServeOptions, roles *ecconfig.Config, lic *license.License,
	nodeCache *nodes.Cache, tokens *auth.Tokens, advertise string, port int, pin func() string, logger *slog.Logger) (*join.Service, error) {
	seeds, err := join.NewSeedSigner(ctx, client, opts.Namespace)
	if err != nil {
		return nil, fmt.Errorf("%w (--namespace %s)", err, opts.Namespace)
	}
	store := bundle.NewStore(opts.DataDir, lic.AppSlug, filepath.Join(opts.DataDir, "ecapi", "bundle-cache"), logger)
	bg.Go(func() {
		warm(ctx, store, filepath.Join(opts.DataDir, "bin", lic.AppSlug), logger)
		// Cache builds outlive the request that started them; let them
		// finish before serve returns, so nothing writes to the data dir
		// afterwards. By the time ctx ends the API has stopped taking
		// requests, so no new build can start while this waits.
		<-ctx.Done()
		store.Wait()
	})
	return &join.Service{
		Client: client, Roles: roles, License: lic, Nodes: nodeCache, Tokens: tokens, Seeds: seeds, Bundles: store,
		Advertise: advertise, Port: port, Pin: pin, Logger: logger,
	}, nil
}

// warm fills the bundle cache at start, so the first download does not
// compress GBs.
func warm(ctx context.Context, store *bundle.Store, binary string, logger *slog.Logger) {
	start := time.Now()
	err := store.Warm(ctx)
	switch {
	case errors.Is(err, bundle.ErrMissingBinary):
		logger.Warn("join bundles will fail until the app binary exists", "path", binary)
	case err != nil && ctx.Err() == nil:
		logger.Warn("warm the join bundle cache", "err", err)
	case err == nil:
		logger.Info("join bundle cache ready", "took", time.Since(start).Round(time.Millisecond).String())
	}
}

func newAuth(ctx context.Context, client kubernetes.Interface, opts *ServeOptions) (*auth.Service, error) {
	if err := ensureNamespace(ctx, client, opts.Namespace); err != nil {
		return nil, err
	}
	keys, err := auth.NewKeyRing(ctx, client, opts.Namespace)
	if err != nil {
		return nil, fmt.Errorf("%w (--namespace %s)", err, opts.Namespace)
	}
	pw, err := auth.WatchPassword(ctx, client, opts.PasswordSecret)
	if err != nil {
		return nil, fmt.Errorf("--password-secret: %w", err)
	}
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !pw.WaitForSync(syncCtx) {
		return nil, fmt.Errorf("could not read the password secret %s within %s: check that ecapi may get, list and watch it", opts.PasswordSecret, syncTimeout)
	}
	return &auth.Service{
		Tokens:  &auth.Tokens{Keys: keys},
		Checker: auth.NewChecker(pw, bcryptWorkers()),
		Lockout: auth.NewLockout(lockoutMax, lockoutWindow),
		Hashes:  pw,
	}, nil
}

// ensureNamespace creates ecapi's namespace when it is missing; where ecapi
// may not create namespaces it only needs the namespace to exist.
func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) {
		return nil
	}
	return fmt.Errorf("create namespace %s (--namespace): %w", name, err)
}

func listenMetrics(opts *ServeOptions) (net.Listener, error) {
	host, _, err := net.SplitHostPort(opts.MetricsAddress)
	if err != nil {
		return nil, fmt.Errorf("--metrics-address %q must be host:port: %w", opts.MetricsAddress, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && !opts.MetricsInsecureBind {
		return nil, fmt.Errorf("--metrics-address %s is not a loopback address: metrics are plain HTTP, so pass --metrics-insecure-bind to expose them", opts.MetricsAddress)
	}
	ln, err := net.Listen("tcp", opts.MetricsAddress)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", opts.MetricsAddress, err)
	}
	return ln, nil
}
