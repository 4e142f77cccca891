package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

var readyController = api.Node{Name: "controller-0", Roles: []string{"controller"}, InternalIP: "10.0.0.11", Ready: true}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

func TestTLSTrust(t *testing.T) {
	srv := clienttest.NewServer(t)
	otherPin := "sha256//" + base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	caFile := srv.CAFile(t)
	localhost := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name     string
		cfg      client.Config
		wantErr  error // nil: the call succeeds
		wantPin  bool  // the TLSError names the presented pin
		wantCert bool
	}{
		{name: "pin matches", cfg: client.Config{Server: srv.URL, Pin: srv.Pin()}},
		{name: "one of several pins matches", cfg: client.Config{Server: srv.URL, Pin: otherPin + ";" + srv.Pin()}},
		{name: "pin ignores host name", cfg: client.Config{Server: localhost, Pin: srv.Pin()}},
		{name: "CA file", cfg: client.Config{Server: srv.URL, CAFile: caFile}},
		{name: "CA file and pin", cfg: client.Config{Server: srv.URL, CAFile: caFile, Pin: srv.Pin()}},
		{name: "insecure", cfg: client.Config{Server: srv.URL, InsecureSkipVerify: true}},
		{name: "pin mismatch", cfg: client.Config{Server: srv.URL, Pin: otherPin}, wantErr: client.ErrPinMismatch, wantPin: true, wantCert: true},
		{name: "pin mismatch despite CA", cfg: client.Config{Server: srv.URL, Pin: otherPin, CAFile: caFile}, wantErr: client.ErrPinMismatch, wantPin: true},
		{name: "unknown CA", cfg: client.Config{Server: srv.URL}, wantErr: x509.UnknownAuthorityError{}, wantPin: true, wantCert: true},
		{name: "CA file but wrong host name", cfg: client.Config{Server: localhost, CAFile: caFile}, wantErr: x509.HostnameError{}, wantPin: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.cfg)
			before := len(srv.Calls())
			_, err := c.Health(context.Background())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Health: %v", err)
				}
				return
			}
			var tlsErr *client.TLSError
			if !errors.As(err, &tlsErr) {
				t.Fatalf("err = %T %v, want *client.TLSError", err, err)
			}
			switch want := tt.wantErr.(type) {
			case x509.UnknownAuthorityError:
				if !errors.As(err, &want) {
					t.Errorf("err = %v, want an x509.UnknownAuthorityError inside", err)
				}
			case x509.HostnameError:
				if !errors.As(err, &want) {
					t.Errorf("err = %v, want an x509.HostnameError inside", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v inside", err, want)
				}
			}
			if tlsErr.Server != c.Server() {
				t.Errorf("TLSError.Server = %q, want %q", tlsErr.Server, c.Server())
			}
			if tt.wantPin && tlsErr.Pin != srv.Pin() {
				t.Errorf("TLSError.Pin = %q, want the server's %q", tlsErr.Pin, srv.Pin())
			}
			if tt.wantCert && (tlsErr.Cert == nil || !tlsErr.Cert.Equal(srv.Certificate())) {
				t.Errorf("TLSError.Cert is not the server's certificate")
			}
			if n := len(srv.Calls()) - before; n != 0 {
				t.Errorf("server saw %d requests, want none after a failed verification (and no retries)", n)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []client.Config{
		{},
		{Server: "http://10.0.0.1:30081"},
		{Server: "https://10.0.0.1:30081/v1"},
		{Server: "10.0.0.1", Pin: "sha1//abc"},
		{Server: "10.0.0.1", Pin: "sha256//not-base64!"},
		{Server: "10.0.0.1", CAFile: "/does/not/exist.pem"},
	} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	tests := map[string]string{
		"10.0.0.11":                   "https://10.0.0.11:30081",
		"10.0.0.11:8443":              "https://10.0.0.11:8443",
		"https://10.0.0.11:30081/":    "https://10.0.0.11:30081",
		"https://ctl.example.com":     "https://ctl.example.com:30081",
		"[fd00::1]":                   "https://[fd00::1]:30081",
		" https://[fd00::1]:30081   ": "https://[fd00::1]:30081",
	}
	for in, want := range tests {
		got, err := client.NormalizeServer(in)
		if err != nil || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFetchPin(t *testing.T) {
	srv := clienttest.NewServer(t)
	pin, fp, err := client.FetchPin(context.Background(), srv.URL)
	if err != nil {
		t.Fatalf("FetchPin: %v", err)
	}
	if pin != srv.Pin() {
		t.Errorf("pin = %q, want %q", pin, srv.Pin())
	}
	if want := client.Fingerprint(srv.Certificate()); fp != want || len(fp) != 32*3-1 {
		t.Errorf("fingerprint = %q, want %q", fp, want)
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken(), MaxAttempts: 1})

	srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		clienttest.WriteError(w, http.StatusForbidden, "license is not multi-node enabled")
		return true
	})
	_, err := c.Nodes(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Message != "license is not multi-node enabled" {
		t.Fatalf("err = %#v, want *api.Error 403 with the server's message", err)
	}

	srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>proxy error</html>")
		return true
	})
	_, err = c.Nodes(context.Background())
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway || apiErr.Message != "" {
		t.Fatalf("err = %#v, want *api.Error 502 without message", err)
	}
	if got := err.Error(); got != "502 Bad Gateway" {
		t.Errorf("Error() = %q, want the status text", got)
	}
}

// failFirst answers the first n requests for path with status, then lets
// the fake handle them.
func failFirst(srv *clienttest.Server, path string, n int, status int, header http.Header) {
	var mu sync.Mutex
	srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != path || n == 0 {
			return false
		}
		n--
		for k, v := range header {
			w.Header()[k] = v
		}
		clienttest.WriteError(w, status, "try again later")
		return true
	})
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	var retries []client.RetryInfo
	c := newClient(t, client.Config{
		Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken(),
		OnRetry: func(ri client.RetryInfo) { retries = append(retries, ri) },
	})
	failFirst(srv, api.PathNodes, 1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}})

	nodes, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	if len(nodes.Nodes) != 1 {
		t.Errorf("got %d nodes, want 1", len(nodes.Nodes))
	}
	if n := srv.CallCount(http.MethodGet, api.PathNodes); n != 2 {
		t.Errorf("server saw %d GET /v1/nodes, want 2", n)
	}
	if len(retries) != 1 || retries[0].Wait != time.Second || retries[0].Attempt != 1 || !strings.HasPrefix(retries[0].Reason, "503") {
		t.Errorf("retries = %+v, want one after 1s (Retry-After) for a 503", retries)
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken(), MaxAttempts: 3})
	failFirst(srv, api.PathNodes, 100, http.StatusTooManyRequests, nil)

	_, err := c.Nodes(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want the last 429", err)
	}
	if n := srv.CallCount(http.MethodGet, api.PathNodes); n != 3 {
		t.Errorf("server saw %d calls, want 3 attempts", n)
	}
}

func TestNoRetryForPOSTOr4xx(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})

	failFirst(srv, api.PathCreateJoinCommand, 100, http.StatusServiceUnavailable, http.Header{"Retry-After": {"0"}})
	_, err := c.CreateJoinCommand(context.Background(), api.CreateJoinCommandRequest{Roles: []string{"controller"}})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want 503", err)
	}
	if n := srv.CallCount(http.MethodPost, api.PathCreateJoinCommand); n != 1 {
		t.Errorf("POST was sent %d times, want exactly once (not idempotent)", n)
	}

	failFirst(srv, api.PathNodes, 100, http.StatusBadRequest, nil)
	if _, err := c.Nodes(context.Background()); err == nil {
		t.Fatal("Nodes succeeded, want 400")
	}
	if n := srv.CallCount(http.MethodGet, api.PathNodes); n != 1 {
		t.Errorf("GET with 400 was sent %d times, want once", n)
	}
}

func TestConnectionError(t *testing.T) {
	srv := clienttest.NewServer(t)
	url, pin := srv.URL, srv.Pin()
	srv.Close()
	c := newClient(t, client.Config{Server: url, Pin: pin, MaxAttempts: 2, RetryMaxWait: time.Millisecond})
	_, err := c.Health(context.Background())
	var connErr *client.ConnectionError
	if !errors.As(err, &connErr) || connErr.Server != c.Server() {
		t.Fatalf("err = %T %v, want *client.ConnectionError for %s", err, err, c.Server())
	}
	var tlsErr *client.TLSError
	if errors.As(err, &tlsErr) {
		t.Errorf("a refused connection must not be a TLSError")
	}
}

func TestCancelledContext(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Health(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestLogin(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin()})

	_, err := c.Login(context.Background(), "wrong")
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: err = %v, want 401", err)
	}

	tok, err := c.Login(context.Background(), clienttest.DefaultPassword)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if !tok.ExpiresAt.Equal(clienttest.DefaultTokenExpiry) {
		t.Errorf("ExpiresAt = %v, want %v from the exp claim", tok.ExpiresAt, clienttest.DefaultTokenExpiry)
	}
	if c.Token() != tok.Token {
		t.Errorf("client does not use the new token")
	}
	if _, err := c.Nodes(context.Background()); err != nil {
		t.Errorf("Nodes after login: %v", err)
	}
}

func TestReloginOn401(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	var refreshed []client.Token
	c := newClient(t, client.Config{
		Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken(), Password: clienttest.DefaultPassword,
		OnTokenRefresh: func(t client.Token) { refreshed = append(refreshed, t) },
	})
	srv.RevokeTokens() // as a password change does

	if _, err := c.Nodes(context.Background()); err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	var got []string
	for _, call := range srv.Calls() {
		got = append(got, call.Method+" "+call.Path)
	}
	want := []string{"GET /v1/nodes", "POST /v1/auth/token", "GET /v1/nodes"}
	if !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	if len(refreshed) != 1 || refreshed[0].Token != c.Token() {
		t.Errorf("OnTokenRefresh got %d tokens, want the new one once", len(refreshed))
	}
}

func TestReloginFailsWithWrongPassword(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: "stale", Password: "wrong"})
	_, err := c.Nodes(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Message != "invalid password" {
		t.Fatalf("err = %v, want the login's 401", err)
	}
	if n := srv.CallCount(http.MethodPost, api.PathAuthToken); n != 1 {
		t.Errorf("logged in %d times, want once", n)
	}
}

func TestNoPasswordNo401Relogin(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: "stale"})
	_, err := c.Nodes(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want 401", err)
	}
	if n := srv.CallCount(http.MethodPost, api.PathAuthToken); n != 0 {
		t.Errorf("logged in %d times without a password", n)
	}
}

func TestLoginWithPasswordWhenNoToken(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Password: clienttest.DefaultPassword})
	if _, err := c.Nodes(context.Background()); err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Path != api.PathAuthToken || !calls[1].Bearer {
		t.Errorf("calls = %+v, want a login then an authenticated GET", calls)
	}
}

func TestRenewsExpiredToken(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetTokenExpiry(time.Now().Add(-time.Hour))
	expired := srv.IssueToken()
	srv.SetTokenExpiry(clienttest.DefaultTokenExpiry)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: expired, Password: clienttest.DefaultPassword})
	if _, err := c.Nodes(context.Background()); err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	if calls := srv.Calls(); len(calls) != 2 || calls[0].Path != api.PathAuthToken {
		t.Errorf("calls = %+v, want the expired token renewed before the call", calls)
	}
}

func TestClockSkew(t *testing.T) {
	srv := clienttest.NewServer(t)
	var skews []time.Duration
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), OnClockSkew: func(d time.Duration) { skews = append(skews, d) }})

	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(skews) != 0 {
		t.Fatalf("warned about skew %v with a correct server clock", skews)
	}

	srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Date", time.Now().Add(-5*time.Minute).UTC().Format(http.TimeFormat))
		return false
	})
	for range 2 {
		if _, err := c.Health(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(skews) != 1 || skews[0] < 4*time.Minute || skews[0] > 6*time.Minute {
		t.Errorf("skews = %v, want one warning of about +5m (local clock ahead)", skews)
	}
}

func TestRequestLog(t *testing.T) {
	srv := clienttest.NewServer(t)
	var infos []client.RequestInfo
	c := newClient(t, client.Config{
		Server: srv.URL, Pin: srv.Pin(), Password: clienttest.DefaultPassword,
		OnRequest: func(ri client.RequestInfo) { infos = append(infos, ri) },
	})
	if _, err := c.Nodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("logged %d requests, want 2 (login, nodes)", len(infos))
	}
	if infos[0].Method != http.MethodPost || infos[0].URL != srv.URL+api.PathAuthToken || infos[0].Status != http.StatusOK {
		t.Errorf("first log = %+v", infos[0])
	}
	if infos[1].Method != http.MethodGet || infos[1].URL != srv.URL+api.PathNodes || infos[1].Status != http.StatusOK {
		t.Errorf("second log = %+v", infos[1])
	}
}

func TestJoinCommand(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})
	req := api.CreateJoinCommandRequest{Roles: []string{"controller"}, TTL: "30m", MaxUses: 2}

	_, err := c.CreateJoinCommand(context.Background(), req)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("before a Ready controller: err = %v, want 409", err)
	}

	srv.SetNodes(readyController)
	resp, err := c.CreateJoinCommand(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateJoinCommand: %v", err)
	}
	if len(resp.JoinSteps) != 3 || resp.TokenID != "abc123" {
		t.Errorf("response = %+v", resp)
	}
	calls := srv.Calls()
	body := string(calls[len(calls)-1].Body)
	if want := `{"roles":["controller"],"ttl":"30m","maxUses":2}`; strings.TrimSpace(body) != want {
		t.Errorf("request body = %s, want %s", body, want)
	}
}

func TestJoinTokens(t *testing.T) {
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})
	srv.SetJoinTokens(api.JoinToken{ID: "abc123", Roles: []string{"controller"}}, api.JoinToken{ID: "def456", Roles: []string{"gpu"}})

	if err := c.RevokeJoinToken(context.Background(), "abc123"); err != nil {
		t.Fatalf("RevokeJoinToken: %v", err)
	}
	list, err := c.JoinTokens(context.Background())
	if err != nil {
		t.Fatalf("JoinTokens: %v", err)
	}
	if len(list.Tokens) != 1 || list.Tokens[0].ID != "def456" {
		t.Errorf("tokens = %+v, want only def456 left", list.Tokens)
	}
	err = c.RevokeJoinToken(context.Background(), "abc123")
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("revoking twice: err = %v, want 404", err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJoinBundle(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	data := randomBytes(t, 1<<20)
	srv.SetBundle("demo-join-controller.tar.gz", data)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})

	b, err := c.JoinBundle(context.Background(), []string{"controller"})
	if err != nil {
		t.Fatalf("JoinBundle: %v", err)
	}
	got, err := io.ReadAll(b.Body)
	_ = b.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if !bytes.Equal(got, data) || b.Size != int64(len(data)) || b.FileName != "demo-join-controller.tar.gz" || b.ETag == "" || !b.Resumable {
		t.Errorf("bundle = {Size:%d FileName:%q ETag:%q Resumable:%v}, %d bytes", b.Size, b.FileName, b.ETag, b.Resumable, len(got))
	}
	if q := srv.Calls()[0].Query; q != "roles=controller" {
		t.Errorf("query = %q", q)
	}

	_, err = c.JoinBundle(context.Background(), []string{"nosuchrole"})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "valid roles are") {
		t.Errorf("unknown role: err = %v, want 400 listing the roles", err)
	}
}

func TestJoinBundleResumes(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	data := randomBytes(t, 1<<20)
	srv.SetBundle("demo.tar.gz", data)
	srv.DropBundleDownloads(2, 300_000)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})

	b, err := c.JoinBundle(context.Background(), []string{"controller"})
	if err != nil {
		t.Fatalf("JoinBundle: %v", err)
	}
	got, err := io.ReadAll(b.Body)
	_ = b.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want the %d of the bundle, identical", len(got), len(data))
	}
	var ranges []string
	for _, call := range srv.Calls() {
		ranges = append(ranges, call.Header.Get("Range"))
		if call.Header.Get("Range") != "" && call.Header.Get("If-Range") != b.ETag {
			t.Errorf("resume without If-Range %s", b.ETag)
		}
	}
	if want := []string{"", "bytes=300000-", "bytes=600000-"}; !slices.Equal(ranges, want) {
		t.Errorf("Range headers = %q, want %q", ranges, want)
	}
}

func TestJoinBundleGivesUpResuming(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	srv.SetBundle("demo.tar.gz", randomBytes(t, 1<<20))
	srv.DropBundleDownloads(10, 1000)
	c := newClient(t, client.Config{Server: srv.URL, Pin: srv.Pin(), Token: srv.IssueToken()})

	b, err := c.JoinBundle(context.Background(), []string{"controller"})
	if err != nil {
		t.Fatalf("JoinBundle: %v", err)
	}
	defer b.Body.Close()
	if _, err := io.ReadAll(b.Body); err == nil {
		t.Fatal("read succeeded, want an error after the resumes are used up")
	}
	if n := srv.CallCount(http.MethodGet, api.PathJoinBundle); n != 4 {
		t.Errorf("server saw %d downloads, want 1 + 3 resumes", n)
	}
}

func TestSafeFileName(t *testing.T) {
	for _, ok := range []string{"demo-join-controller-20260115-120000.tar.gz", "a.tgz"} {
		if got, err := client.SafeFileName(ok); err != nil || got != ok {
			t.Errorf("SafeFileName(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x.tar.gz", "/etc/x.tar.gz", `a\b.tar.gz`, ".hidden.tar.gz", "x\n.tar.gz", "authorized_keys"} {
		if _, err := client.SafeFileName(bad); err == nil {
			t.Errorf("SafeFileName(%q) accepted", bad)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	srv := clienttest.NewServer(t)
	if got := client.TokenExpiry(srv.IssueToken()); !got.Equal(clienttest.DefaultTokenExpiry) {
		t.Errorf("TokenExpiry = %v", got)
	}
	for _, tok := range []string{"", "opaque", "a.b.c", "a.eyJzdWIiOiJ4In0.c"} {
		if got := client.TokenExpiry(tok); !got.IsZero() {
			t.Errorf("TokenExpiry(%q) = %v, want zero", tok, got)
		}
	}
}
