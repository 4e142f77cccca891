package client

import (
	"net/http"
	"time"
)

// observer wraps the transport to see every round trip, retries included:
// it reports them to Config.OnRequest and compares the server's clock with
// ours. It never looks at request headers, so the Authorization header
// cannot leak into logs.
type observer struct {
	next   http.RoundTripper
	client *Client
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.next.RoundTrip(req)
	cfg := &o.client.cfg
	if cfg.OnRequest != nil {
		info := RequestInfo{Method: req.Method, URL: req.URL.Redacted(), Duration: time.Since(start), Err: err}
		if resp != nil {
			info.Status = resp.StatusCode
		}
		cfg.OnRequest(info)
	}
	if resp != nil && cfg.OnClockSkew != nil {
		o.checkSkew(resp.Header.Get("Date"))
	}
	return resp, err
}

// checkSkew warns once when the server's Date is far from the local clock:
// tokens carry iat/nbf/exp, so a skewed clock makes them look invalid.
func (o *observer) checkSkew(date string) {
	if date == "" {
		return
	}
	serverTime, err := http.ParseTime(date)
	if err != nil {
		return
	}
	skew := time.Since(serverTime)
	if skew.Abs() <= ClockSkewThreshold {
		return
	}
	o.client.skewOnce.Do(func() { o.client.cfg.OnClockSkew(skew.Round(time.Second)) })
}
