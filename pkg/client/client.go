// Package client is the Go SDK of the ecapi HTTP API: login, nodes, join
// commands and join bundles, with TLS trust by CA file or public key pin,
// retries of idempotent calls and re-login on 401.
//
// Every error is one of *api.Error (the server answered non-2xx),
// *TLSError (its certificate was not trusted), *ConnectionError (it could
// not be reached) or a context error.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/ecapi/ecapi/pkg/api"
)

const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 60 * time.Second
	retryMinWait          = 250 * time.Millisecond
	// maxResponseBody bounds JSON bodies read into memory (1 000 nodes with
	// labels and annotations are a few MB).
	maxResponseBody = 64 << 20
	// maxErrorBody bounds an error body read from a streamed response.
	maxErrorBody = 64 << 10
	// tokenRenewMargin renews a token this long before it expires, so that
	// it does not expire in flight.
	tokenRenewMargin = 30 * time.Second
	defaultUserAgent = "ecapi-go-client"
)

// Client calls one ecapi server. It is safe for concurrent use.
type Client struct {
	cfg    Config
	server string
	http   *resty.Client

	mu    sync.Mutex // guards token
	token string
	// loginMu makes concurrent calls that need a new token share one login.
	loginMu  sync.Mutex
	skewOnce sync.Once
}

// New returns a client for cfg.Server. It reads cfg.CAFile and validates
// cfg.Pin but does not contact the server.
func New(cfg Config) (*Client, error) {
	server, err := NormalizeServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(server) // NormalizeServer produced it
	tlsCfg, err := newTLSConfig(cfg, u.Hostname())
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	c := &Client{cfg: cfg, server: server, token: cfg.Token}
	hc := &http.Client{
		Transport: &observer{next: transport, client: c},
		// Redirects would carry the bearer token somewhere else; the API
		// never sends them.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("server redirected to %s; the API does not redirect, check --server", req.URL.Redacted())
		},
	}
	attempts := cfg.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	maxWait := cfg.RetryMaxWait
	if maxWait <= 0 {
		maxWait = DefaultRetryMaxWait
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}
	c.http = resty.NewWithClient(hc).
		SetBaseURL(server).
		SetLogger(discardLogger{}).
		SetDisableWarn(true).
		SetResponseBodyLimit(maxResponseBody).
		SetHeader("User-Agent", ua).
		SetHeader("Accept", "application/json").
		SetRetryCount(attempts - 1).
		SetRetryWaitTime(retryMinWait).
		SetRetryMaxWaitTime(maxWait).
		AddRetryCondition(shouldRetry).
		SetRetryAfter(c.retryAfter)
	return c, nil
}

// Server returns the normalised base URL the client talks to.
func (c *Client) Server() string { return c.server }

// Token returns the bearer token the client currently sends.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// SetToken replaces the bearer token.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = token
}

// call describes one API call.
type call struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   any
	// auth sends the bearer token (and logs in first when needed).
	auth bool
	// stream leaves the response body unread for the caller to consume.
	stream bool
}

// send runs a call and returns a 2xx response, or an error of one of the
// package's documented kinds. For stream calls the caller closes RawBody.
func (c *Client) send(ctx context.Context, cl call) (*resty.Response, error) {
	if cl.auth {
		if err := c.ensureToken(ctx); err != nil {
			return nil, err
		}
	}
	sent := c.Token()
	resp, err := c.execute(ctx, cl)
	if err == nil && cl.auth && resp.StatusCode() == http.StatusUnauthorized && c.cfg.Password != "" {
		// The token expired or was revoked (e.g. a password change): log in
		// again once and repeat the call with the new token.
		closeBody(resp, cl.stream)
		if err := c.relogin(ctx, sent); err != nil {
			return nil, err
		}
		resp, err = c.execute(ctx, cl)
	}
	if err != nil {
		return nil, c.transportError(ctx, cl, err)
	}
	if !resp.IsSuccess() {
		return nil, decodeError(resp, cl.stream)
	}
	return resp, nil
}

func (c *Client) execute(ctx context.Context, cl call) (*resty.Response, error) {
	req := c.http.R().SetContext(ctx).SetDoNotParseResponse(cl.stream)
	if cl.auth {
		if tok := c.Token(); tok != "" {
			req.SetAuthToken(tok)
		}
	}
	for k, vs := range cl.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if cl.query != nil {
		req.SetQueryParamsFromValues(cl.query)
	}
	if cl.body != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(cl.body)
	}
	return req.Execute(cl.method, cl.path)
}

// getJSON runs a call and decodes its 2xx JSON body into out.
func (c *Client) getJSON(ctx context.Context, cl call, out any) error {
	resp, err := c.send(ctx, cl)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", cl.method, cl.path, err)
	}
	return nil
}

// transportError maps a failed round trip to the package's error kinds.
func (c *Client) transportError(ctx context.Context, cl call, err error) error {
	var tlsErr *TLSError
	if errors.As(err, &tlsErr) {
		tlsErr.Server = c.server
		return tlsErr
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.path, ctxErr)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // the URL is in ConnectionError.Server already
	}
	return &ConnectionError{Server: c.server, Err: err}
}

// decodeError builds the *api.Error of a non-2xx response from its
// {"statusCode","message"} body, falling back to the bare status.
func decodeError(resp *resty.Response, stream bool) *api.Error {
	status := resp.StatusCode()
	body := resp.Body()
	if stream {
		raw := resp.RawBody()
		body, _ = io.ReadAll(io.LimitReader(raw, maxErrorBody))
		_ = raw.Close()
	}
	var decoded api.Error
	if err := json.Unmarshal(body, &decoded); err != nil {
		decoded.Message = ""
	}
	return &api.Error{StatusCode: status, Message: decoded.Message}
}

func closeBody(resp *resty.Response, stream bool) {
	if stream && resp.RawBody() != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.RawBody(), maxErrorBody))
		_ = resp.RawBody().Close()
	}
}

// discardLogger silences resty: errors reach the caller as values, and
// request logs go through Config.OnRequest.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
