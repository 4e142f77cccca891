package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// shouldRetry decides, for resty, whether a failed attempt is tried again:
// only idempotent methods, and only on connection errors, 5xx (but 501)
// and 429. Certificate failures and cancelled contexts are final.
func shouldRetry(resp *resty.Response, err error) bool {
	if resp == nil || resp.Request == nil || !idempotent(resp.Request.Method) {
		return false
	}
	if resp.Request.Context().Err() != nil {
		return false
	}
	if err != nil {
		var tlsErr *TLSError
		return !errors.As(err, &tlsErr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	s := resp.StatusCode()
	return s == http.StatusTooManyRequests || (s >= 500 && s != http.StatusNotImplemented)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions, http.MethodPut:
		return true
	}
	return false
}

// retryAfter tells resty how long to wait before the next attempt: the
// server's Retry-After when it sent one, else exponential backoff, both
// bounded by RetryMaxWait. resty calls it only when it will retry, which
// makes it the place to report the retry and to release the body of a
// streamed response that is being thrown away.
func (c *Client) retryAfter(rc *resty.Client, resp *resty.Response) (time.Duration, error) {
	wait := backoff(rc.RetryWaitTime, resp.Request.Attempt)
	reason := "connection failed"
	if raw := resp.RawResponse; raw != nil {
		reason = raw.Status
		if d, ok := parseRetryAfter(raw.Header.Get("Retry-After"), time.Now()); ok {
			wait = d
		}
		if raw.Body != nil {
			_ = raw.Body.Close()
		}
	}
	wait = min(max(wait, rc.RetryWaitTime), rc.RetryMaxWaitTime)
	if c.cfg.OnRetry != nil {
		c.cfg.OnRetry(RetryInfo{Method: resp.Request.Method, URL: resp.Request.URL, Attempt: resp.Request.Attempt, Wait: wait, Reason: reason})
	}
	return wait, nil
}

// backoff doubles base for each attempt already made.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return d
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
