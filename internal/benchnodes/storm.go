//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// stormResult is what `benchnodes storm` prints on stdout.
type stormResult struct {
	PerSecond float64        `json:"perSecond"`
	Statuses  map[string]int `json:"statuses"`
}

// runStorm is `benchnodes storm`: workers goroutines POST wrong passwords to
// /v1/auth/token back to back for -duration. It runs as its own process so
// that the storm's client work does not queue behind, or in front of, the
// /v1/health probe inside one Go runtime: an attacker is not in the
// health checker's process.
func runStorm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	url := fs.String("url", "", "ecapi base URL")
	certFile := fs.String("cert", "", "PEM certificate to trust (ecapi's)")
	workers := fs.Int("workers", 8, "concurrent clients")
	window := fs.Duration("duration", 5*time.Second, "how long to storm")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	certPEM, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	tlsConfig, err := trusting(certPEM)
	if err != nil {
		return err
	}
	wrong, _ := json.Marshal(api.TokenRequest{Password: "not-the-installer-password"})
	header := identity()
	header.Set("Content-Type", "application/json")
	req := request{
		method: http.MethodPost, url: *url + api.PathAuthToken, header: header, body: wrong,
		// 401 until the lockout, then 429; 503 if the bcrypt pool stays full.
		ok: func(status int) bool {
			return status == http.StatusUnauthorized || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		},
	}
	res, err := hammer(ctx, newClient(tlsConfig, *workers), req, *workers, *window)
	if err != nil {
		return err
	}
	out := stormResult{PerSecond: res.perSecond(), Statuses: map[string]int{}}
	for status, n := range res.statuses {
		out.Statuses[strconv.Itoa(status)] = n
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// startStorm runs `benchnodes storm` for d; wait returns its result.
func startStorm(url, certFile string, workers int, d time.Duration) (wait func() (stormResult, error), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	c, err := startChild("login storm", &stdout, os.Stderr, self, "storm",
		"-url", url, "-cert", certFile, "-workers", strconv.Itoa(workers), "-duration", d.String())
	if err != nil {
		return nil, err
	}
	return func() (stormResult, error) {
		var res stormResult
		select {
		case <-c.done:
		case <-time.After(d + 30*time.Second):
			c.stop()
			return res, fmt.Errorf("login storm did not end within %s", d+30*time.Second)
		}
		if c.err != nil {
			return res, fmt.Errorf("login storm: %w", c.err)
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return res, fmt.Errorf("login storm result %q: %w", stdout.String(), err)
		}
		return res, nil
	}, nil
}
