//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// request is what one load run repeats.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
	// size is the expected body length; 0 accepts any.
	size int64
	// encoding is the expected Content-Encoding ("" for identity).
	encoding string
	// ok says whether a status is an expected answer.
	ok func(status int) bool
}

func statusOK(status int) bool { return status == http.StatusOK }

// newClient is the load generator's client for one server: HTTP/1.1 with
// keep-alive, one idle connection per worker, and no transparent gzip, so
// every server sends the identity bytes we compare.
func newClient(tlsConfig *tls.Config, conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// runResult is what one load run measured.
type runResult struct {
	completed int
	window    time.Duration
	latencies []time.Duration // sorted
	statuses  map[int]int
}

func (r runResult) perSecond() float64 { return float64(r.completed) / r.window.Seconds() }

// quantile is the q-quantile of the latencies (nearest rank).
func (r runResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

// hammer sends req back to back from workers goroutines for window and
// counts the answers completed within it. Requests cut off by the end of the
// window are not counted; any other failure ends the run with an error.
func hammer(ctx context.Context, client *http.Client, req request, workers int, window time.Duration) (runResult, error) {
	rctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	type partial struct {
		latencies []time.Duration
		statuses  map[int]int
		err       error
	}
	parts := make([]partial, workers)
	var wg sync.WaitGroup
	for i := range parts {
		p := &parts[i]
		p.statuses = map[int]int{}
		wg.Go(func() {
			for {
				started := time.Now()
				status, err := send(rctx, client, req)
				if rctx.Err() != nil {
					return
				}
				if err != nil {
					p.err = err
					cancel()
					return
				}
				p.latencies = append(p.latencies, time.Since(started))
				p.statuses[status]++
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return runResult{}, err
	}
	res := runResult{window: window, statuses: map[int]int{}}
	var errs []error
	for _, p := range parts {
		errs = append(errs, p.err)
		res.latencies = append(res.latencies, p.latencies...)
		for s, n := range p.statuses {
			res.statuses[s] += n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return runResult{}, err
	}
	res.completed = len(res.latencies)
	slices.Sort(res.latencies)
	return res, nil
}

// send makes one request, reads the whole answer and checks it.
func send(ctx context.Context, client *http.Client, req request) (int, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return 0, err
	}
	hr.Header = req.header.Clone()
	resp, err := client.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", req.method, req.url, err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s %s: read body: %w", req.method, req.url, err)
	case !req.ok(resp.StatusCode):
		return 0, fmt.Errorf("%s %s: unexpected status %s", req.method, req.url, resp.Status)
	case resp.Header.Get("Content-Encoding") != req.encoding:
		return 0, fmt.Errorf("%s %s: Content-Encoding %q, want %q", req.method, req.url, resp.Header.Get("Content-Encoding"), req.encoding)
	case req.size > 0 && n != req.size:
		return 0, fmt.Errorf("%s %s: %d bytes, want %d", req.method, req.url, n, req.size)
	}
	return resp.StatusCode, nil
}
