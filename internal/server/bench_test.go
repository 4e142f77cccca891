package server_test

import (
	"context"
	"crypto/subtle"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/internal/server"
	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

const benchToken = "bench-token"

// fixedAuth accepts one token, so the benchmarks measure the HTTP path and
// not JWT verification (which has its own benchmarks in internal/auth).
type fixedAuth struct{}

func (fixedAuth) Login(context.Context, string, string) (string, time.Time, error) {
	return "", time.Time{}, auth.ErrWrongPassword
}

func (fixedAuth) VerifyLogin(raw string) (*auth.LoginClaims, error) {
	if subtle.ConstantTimeCompare([]byte(raw), []byte(benchToken)) != 1 {
		return nil, &auth.TokenError{Reason: "invalid token"}
	}
	return &auth.LoginClaims{}, nil
}

type staticNodes struct{ snap *nodes.Snapshot }

func (s staticNodes) Snapshot() (*nodes.Snapshot, error) { return s.snap, nil }

func realisticNodes(n int) []*corev1.Node {
	list := make([]*corev1.Node, n)
	for i := range list {
		list[i] = testenv.RealisticNode(i)
	}
	return list
}

// startBench serves h over TLS (HTTP/1.1, as the bench script's client
// speaks) and returns a keep-alive client that asks for identity encoding.
func startBench(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	b.Helper()
	ts := httptest.NewUnstartedServer(h)
	// Closing the server at the end aborts handshakes in flight: not news.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	b.Cleanup(ts.Close)
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 256
	client := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	return ts, client
}

// newServer is ecapi's handler with the default (info) access log encoded as
// JSON to io.Discard: the cost of logging without the cost of the disk.
func newServer(snap *nodes.Snapshot) *server.Server {
	return server.New(server.Config{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Auth:   fixedAuth{},
		Nodes:  staticNodes{snap},
	})
}

// bareHandler is the anchor: the same bytes from memory, no middleware.
func bareHandler(body []byte) http.Handler {
	size := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", size)
		_, _ = w.Write(body)
	})
}

// benchGET sends GETs from GOMAXPROCS goroutines and checks each answer.
func benchGET(b *testing.B, client *http.Client, url string, header http.Header, want []byte, wantEncoding string) {
	b.Helper()
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(want)+1)
		for pb.Next() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Header = header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.ReadFull(resp.Body, buf)
			resp.Body.Close()
			if err != io.ErrUnexpectedEOF || resp.StatusCode != http.StatusOK || n != len(want) ||
				resp.Header.Get("Content-Encoding") != wantEncoding {
				b.Errorf("GET %s: %s, %d bytes (want %d), encoding %q (want %q), read: %v",
					url, resp.Status, n, len(want), resp.Header.Get("Content-Encoding"), wantEncoding, err)
				return
			}
		}
	})
}

// BenchmarkNodes1000 serves GET /v1/nodes for 1000 realistic nodes over TLS:
// ecapi's handler (identity and gzip) beside a bare handler of the same
// bytes, the anchor of the /v1/nodes goal (ecapi >= 0.8x bare).
func BenchmarkNodes1000(b *testing.B) {
	snap, err := nodes.Encode(realisticNodes(1000), ecconfig.Default())
	if err != nil {
		b.Fatal(err)
	}
	identity := http.Header{"Authorization": {"Bearer " + benchToken}, "Accept-Encoding": {"identity"}}
	gzipped := http.Header{"Authorization": {"Bearer " + benchToken}, "Accept-Encoding": {"gzip"}}
	b.Run("ecapi", func(b *testing.B) {
		ts, client := startBench(b, newServer(snap))
		benchGET(b, client, ts.URL+api.PathNodes, identity, snap.JSON, "")
	})
	b.Run("ecapi-gzip", func(b *testing.B) {
		ts, client := startBench(b, newServer(snap))
		benchGET(b, client, ts.URL+api.PathNodes, gzipped, snap.Gzip, "gzip")
	})
	b.Run("bare", func(b *testing.B) {
		ts, client := startBench(b, bareHandler(snap.JSON))
		benchGET(b, client, ts.URL+api.PathNodes, identity, snap.JSON, "")
	})
}

// BenchmarkNodesEncode1000 is the cost of one cache change: the views,
// the JSON, the gzip copy and the ETag of 1000 realistic nodes.
func BenchmarkNodesEncode1000(b *testing.B) {
	list := realisticNodes(1000)
	cfg := ecconfig.Default()
	snap, err := nodes.Encode(list, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(snap.JSON)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nodes.Encode(list, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHealth serves GET /v1/health through ecapi's middleware beside a
// bare handler of the same body (goal: ecapi >= 0.9x bare).
func BenchmarkHealth(b *testing.B) {
	body := []byte(`{"status":"ok"}`)
	header := http.Header{"Accept-Encoding": {"identity"}}
	b.Run("ecapi", func(b *testing.B) {
		ts, client := startBench(b, newServer(nil))
		benchGET(b, client, ts.URL+api.PathHealth, header, body, "")
	})
	b.Run("bare", func(b *testing.B) {
		ts, client := startBench(b, bareHandler(body))
		benchGET(b, client, ts.URL+api.PathHealth, header, body, "")
	})
}
