// Package server is ecapi's HTTP layer: routing, middleware (logging,
// metrics, authentication, limits) and handlers that decode a request, call
// a service and encode the answer. It knows nothing of cobra or viper.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/pkg/api"
)

type apiError = api.Error

// Authenticator logs users in and verifies their tokens.
type Authenticator interface {
	Login(ctx context.Context, client, password string) (string, time.Time, error)
	VerifyLogin(raw string) (*auth.LoginClaims, error)
}

// NodeSource serves the encoded node list.
type NodeSource interface {
	Snapshot() (*nodes.Snapshot, error)
}

// Timeouts of the HTTP server. Writes get WriteTimeout per response; the
// join-bundle route extends its deadline while data flows.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
)

// Config wires the server's dependencies.
type Config struct {
	Logger  *slog.Logger
	Metrics *Metrics
	Auth    Authenticator
	Nodes   NodeSource
	Build   build.Info
}

// Server is the API's HTTP handler.
type Server struct {
	logger    *slog.Logger
	accessLog *slog.Logger
	audit     *slog.Logger
	metrics   *Metrics
	auth      Authenticator
	nodes     NodeSource
	joins     Joiner
	version   []byte
	router    *router
	handler   http.Handler
}

// New builds the handler tree.
func New(cfg Config) *Server {
	s := &Server{
		logger:    cfg.Logger,
		accessLog: cfg.Logger.With("log", "access"),
		audit:     cfg.Logger.With("log", "audit"),
		metrics:   cfg.Metrics,
		auth:      cfg.Auth,
		nodes:     cfg.Nodes,
		router:    newRouter(),
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.version = mustJSON(api.VersionResponse{Version: cfg.Build.Version, Commit: cfg.Build.Commit, BuildDate: cfg.Build.Date})
	s.router.handle(api.PathHealth, methods{http.MethodGet: s.health})
	s.router.handle(api.PathVersion, methods{http.MethodGet: s.versionHandler})
	s.router.handle(api.PathAuthToken, methods{http.MethodPost: s.token})
	s.router.handle(api.PathNodes, methods{http.MethodGet: s.requireLogin(s.nodesHandler)})
	s.handler = s.observe(s.router)
	return s
}

// Handle registers more routes (the join endpoints) behind the same middleware.
func (s *Server) Handle(path string, m methods) { s.router.handle(path, m) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// HTTPServer returns an http.Server for this handler with the daemon's timeouts.
func (s *Server) HTTPServer(addr string, tlsConfig *tls.Config) *http.Server {
	// HTTP/1.1 only: the API's few small calls and its long downloads gain
	// nothing from HTTP/2, and Go 1.26.8's HTTP/2 server has known DoS
	// issues (docs/security.md).
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Server{
		Protocols:         protocols,
		Addr:              addr,
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// TLSConfig is the daemon's TLS policy: TLS 1.2+, Go's default suites,
// HTTP/1.1.
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert, NextProtos: []string{"http/1.1"}}
}

func mustJSON(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func asTokenError(err error, te **auth.TokenError) bool { return errors.As(err, te) }

func isPasswordUnavailable(err error) bool { return errors.Is(err, auth.ErrPasswordUnavailable) }
