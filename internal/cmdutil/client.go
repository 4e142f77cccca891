package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/client"
)

// DefaultRequestTimeout bounds a one-shot client verb when --timeout is 0.
const DefaultRequestTimeout = 30 * time.Second

// ErrNoServerHint is the usage error of a client verb without a server.
var ErrNoServerHint = errors.New("no server: pass --server https://<controller-ip>:30081, set ECAPI_SERVER, or run `ecapi login`")

// ClientConfig resolves the SDK configuration of a client verb:
//   - server and TLS trust from the layered globals (flag > ECAPI_* env >
//     config file), so a saved login's server, pin and CA file apply, the
//     pin and CA file only when talking to the saved server;
//   - the token from ECAPI_TOKEN, else the saved login's token, but only
//     when talking to the server it was saved for;
//   - the password from ECAPI_PASSWORD, so the SDK can log in by itself;
//   - hooks that print request logs (-v), retry notes (-v) and clock-skew
//     warnings on stderr, and save a refreshed token to the saved login.
func ClientConfig(ios *iostreams.IOStreams, g *GlobalOptions) (client.Config, error) {
	server, err := client.NormalizeServer(g.Server)
	if errors.Is(err, client.ErrNoServer) {
		return client.Config{}, &FlagError{Err: ErrNoServerHint}
	}
	if err != nil {
		return client.Config{}, &FlagError{Err: err}
	}
	styles := ios.Styles()
	cfg := client.Config{
		Server:             server,
		Pin:                g.Pin,
		CAFile:             g.CAFile,
		InsecureSkipVerify: g.Insecure,
		Password:           os.Getenv(client.EnvPassword),
		Token:              os.Getenv(client.EnvToken),
		UserAgent:          "ecapi/" + build.Get().Version,
		MaxAttempts:        client.DefaultMaxAttempts,
		OnClockSkew: func(skew time.Duration) {
			dir := "ahead of"
			if skew < 0 {
				dir, skew = "behind", -skew
			}
			fmt.Fprintln(ios.ErrOut, styles.Warning.Render(fmt.Sprintf(
				"Warning: this machine's clock is %s %s the server's; tokens may be refused as expired or not yet valid: sync the clocks (NTP)", skew, dir)))
		},
	}
	saved, err := LoadSavedLogin(g.ConfigDir)
	if err != nil {
		return client.Config{}, err
	}
	if !SameServer(saved.Server, server) {
		// The layering filled --pin and --ca-file from the saved login,
		// but they vouch for the saved server only.
		if cfg.Pin == saved.Pin {
			cfg.Pin = ""
		}
		if cfg.CAFile == saved.CAFile {
			cfg.CAFile = ""
		}
	}
	if cfg.Token == "" {
		if saved.Token != "" && SameServer(saved.Server, server) {
			cfg.Token = saved.Token
			cfg.OnTokenRefresh = func(t client.Token) {
				saved.Token = t.Token
				if _, err := SaveLogin(g.ConfigDir, saved); err != nil {
					fmt.Fprintln(ios.ErrOut, styles.Warning.Render("Warning: could not save the renewed token: "+err.Error()))
				}
			}
		}
	}
	if g.Verbose {
		cfg.OnRequest = func(ri client.RequestInfo) {
			line := fmt.Sprintf("* %s %s → %d %s", ri.Method, ri.URL, ri.Status, ri.Duration.Round(time.Millisecond))
			if ri.Err != nil {
				line = fmt.Sprintf("* %s %s → %v (%s)", ri.Method, ri.URL, ri.Err, ri.Duration.Round(time.Millisecond))
			}
			fmt.Fprintln(ios.ErrOut, styles.Muted.Render(line))
		}
		cfg.OnRetry = func(ri client.RetryInfo) {
			fmt.Fprintln(ios.ErrOut, styles.Muted.Render(fmt.Sprintf("* retrying %s %s in %s (attempt %d: %s)", ri.Method, ri.URL, ri.Wait, ri.Attempt, ri.Reason)))
		}
	}
	if g.Insecure {
		fmt.Fprintln(ios.ErrOut, styles.Warning.Render(
			"Warning: --insecure-skip-tls-verify: the server's identity is NOT verified; anyone on the network path can read the password and tokens. Use --pin instead."))
	}
	return cfg, nil
}

// NewClient builds the SDK client for a verb; see ClientConfig.
func NewClient(ios *iostreams.IOStreams, g *GlobalOptions) (*client.Client, error) {
	cfg, err := ClientConfig(ios, g)
	if err != nil {
		return nil, err
	}
	return NewClientFromConfig(cfg)
}

// NewClientFromConfig is client.New with configuration mistakes (a
// malformed pin, an unreadable CA file) reported as usage errors.
func NewClientFromConfig(cfg client.Config) (*client.Client, error) {
	c, err := client.New(cfg)
	if err != nil {
		return nil, &FlagError{Err: err}
	}
	return c, nil
}

// SameServer reports whether two server URLs name the same API endpoint.
func SameServer(a, b string) bool {
	na, errA := client.NormalizeServer(a)
	nb, errB := client.NormalizeServer(b)
	return errA == nil && errB == nil && na == nb
}

// CommandContext derives the context of a verb's run: cancelled on SIGINT
// or SIGTERM (so that the verb can clean up, e.g. remove a partial
// download), and bounded by --timeout, or by def when --timeout is 0
// (def 0: no bound). After the first signal, a second one kills the
// process as usual.
func CommandContext(parent context.Context, g *GlobalOptions, def time.Duration) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	timeout := def
	if g != nil && g.Timeout > 0 {
		timeout = g.Timeout
	}
	if timeout <= 0 {
		return ctx, stop
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	return tctx, func() { cancel(); stop() }
}
