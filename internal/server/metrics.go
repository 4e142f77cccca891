package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the daemon's Prometheus series, on their own registry.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	loginFailures prometheus.Counter
	lockouts      prometheus.Counter
	joinCommands  prometheus.Counter
	bundleBytes   prometheus.Counter
}

// NewMetrics registers ecapi's series plus the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecapi_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ecapi_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 60},
		}, []string{"route"}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ecapi_login_failures_total", Help: "Logins refused for a wrong password.",
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ecapi_login_lockouts_total", Help: "Logins refused because the client is locked out.",
		}),
		joinCommands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ecapi_join_commands_total", Help: "Join commands created.",
		}),
		bundleBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ecapi_join_bundle_bytes_total", Help: "Join bundle bytes sent.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.loginFailures, m.lockouts, m.joinCommands, m.bundleBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	return mux
}

func (m *Metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel bounds the method label: clients may send any token as a
// method, and each new label value would be a new series kept forever.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
