package client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// Environment variables DefaultConfig reads.
const (
	EnvServer   = "ECAPI_SERVER"
	EnvToken    = "ECAPI_TOKEN"
	EnvPassword = "ECAPI_PASSWORD"
	EnvPin      = "ECAPI_PIN"
	EnvCAFile   = "ECAPI_CA_FILE"
)

// DefaultMaxAttempts is how often an idempotent call is tried before its
// error is returned, when Config.MaxAttempts is zero.
const DefaultMaxAttempts = 3

// DefaultRetryMaxWait bounds the wait between two attempts, including a
// server's Retry-After, when Config.RetryMaxWait is zero.
const DefaultRetryMaxWait = 10 * time.Second

// ClockSkewThreshold is how far the server's Date header may be from the
// local clock before Config.OnClockSkew is called. Tokens are checked with
// about a minute of tolerance, so half of that is worth a warning.
const ClockSkewThreshold = 30 * time.Second

// Config configures a Client. The zero value plus Server is usable.
type Config struct {
	// Server is the API's base URL. "10.0.0.11" and "10.0.0.11:30081" are
	// accepted and mean https://10.0.0.11:30081; plain http is refused.
	Server string
	// Token is a bearer token from a previous login.
	Token string
	// Password, when set, lets the client log in by itself: when it has no
	// token, when the token has expired, and once when a call gets 401.
	Password string

	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's roots.
	CAFile string
	// Pin trusts the server whose leaf certificate's public key has this
	// pin, in curl's --pinnedpubkey format: "sha256//<base64 of the SHA-256
	// of the SubjectPublicKeyInfo>". Several pins may be separated by ";".
	// With a pin and no CAFile, the chain and host name are not checked
	// (the pin is the identity); with both, both must hold.
	Pin string
	// InsecureSkipVerify accepts any certificate. Unsafe: prefer Pin.
	InsecureSkipVerify bool

	// UserAgent is sent with every request.
	UserAgent string
	// MaxAttempts is how often idempotent calls (GET, HEAD, DELETE) are
	// tried on connection errors, 5xx and 429. 0 means DefaultMaxAttempts;
	// 1 disables retries.
	MaxAttempts int
	// RetryMaxWait bounds the wait between attempts, Retry-After included.
	RetryMaxWait time.Duration

	// OnTokenRefresh is called after the client logged in by itself with
	// Password, so that the caller can save the new token.
	OnTokenRefresh func(Token)
	// OnRequest is called after every HTTP round trip (each retry too),
	// for request logs. It never sees headers.
	OnRequest func(RequestInfo)
	// OnRetry is called before the client waits to retry a call.
	OnRetry func(RetryInfo)
	// OnClockSkew is called once per Client when a response's Date header
	// is more than ClockSkewThreshold away from the local clock. skew is
	// positive when the local clock is ahead.
	OnClockSkew func(skew time.Duration)
}

// RequestInfo describes one HTTP round trip for request logs.
type RequestInfo struct {
	Method   string
	URL      string
	Status   int // 0 when no response arrived
	Duration time.Duration
	Err      error
}

// RetryInfo describes a retry the client is about to make.
type RetryInfo struct {
	Method  string
	URL     string
	Attempt int           // the attempt that failed, from 1
	Wait    time.Duration // how long the client waits before the next one
	Reason  string        // the status, or "connection failed"
}

// DefaultConfig returns a Config filled from ECAPI_SERVER, ECAPI_TOKEN,
// ECAPI_PASSWORD, ECAPI_PIN and ECAPI_CA_FILE.
func DefaultConfig() Config {
	return Config{
		Server:      os.Getenv(EnvServer),
		Token:       os.Getenv(EnvToken),
		Password:    os.Getenv(EnvPassword),
		Pin:         os.Getenv(EnvPin),
		CAFile:      os.Getenv(EnvCAFile),
		MaxAttempts: DefaultMaxAttempts,
	}
}

// ErrNoServer is returned by New and NormalizeServer for an empty server.
var ErrNoServer = errors.New("no server configured")

// NormalizeServer turns what a user types for a server into the canonical
// base URL: https scheme, explicit port (api.DefaultPort when missing), no
// path, query or trailing slash.
func NormalizeServer(server string) (string, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		return "", ErrNoServer
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("invalid server URL %q: %w", server, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("invalid server URL %q: the API is served over https only", server)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("invalid server URL %q: no host", server)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid server URL %q: give only https://host:port", server)
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(api.DefaultPort)
	}
	return "https://" + net.JoinHostPort(u.Hostname(), port), nil
}
