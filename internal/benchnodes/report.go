//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// section is the heading docs/benchmarks.md keeps for this benchmark.
const section = "## /v1/nodes and /v1/health (scripts/bench.sh)"

// Goals of issue 3.
const (
	goalVsKube        = 100.0 // ecapi /v1/nodes req/s over kube-apiserver's
	goalNodesVsAnchor = 0.8
	goalHealthVsBare  = 0.9
	goalStormP99      = 3.0  // storm p99 over idle p99, at most
	goalCLI           = 0.25 // `ecapi nodes` wall time over `kubectl get nodes`, at most
)

// report holds every round's figures.
type report struct {
	settings
	kubeVersion string
	kubeBytes   int64
	nodesBytes  int64
	gzipBytes   int64
	loadAvg     string
	unavailable time.Duration

	ecapiNodes, kubeNodes, anchorNodes []float64
	ecapiGzip, kubeGzip                []float64
	ecapiHealth, anchorHealth          []float64
	idleP99, stormP99                  []time.Duration
	stormRates                         []float64
	stormStatuses                      map[string]int
	cli                                cliTiming
}

func (r *report) print(w io.Writer) {
	div := func(a, b []float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] / b[i]
		}
		return out
	}
	secs := func(d []time.Duration) []float64 {
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = v.Seconds()
		}
		return out
	}
	vsKube := div(r.ecapiNodes, r.kubeNodes)
	vsAnchor := div(r.ecapiNodes, r.anchorNodes)
	gzipVsKube := div(r.ecapiGzip, r.kubeGzip)
	health := div(r.ecapiHealth, r.anchorHealth)
	storm := div(secs(r.stormP99), secs(r.idleP99))

	fmt.Fprintf(w, "%s\n\n", section)
	fmt.Fprintf(w, "Run %s on %d cores (load average before the run: %s), %s. "+
		"%d realistic nodes in a real kube-apiserver %s + etcd (%.1f KB per node as kube-apiserver returns them: "+
		"conditions, capacity, nodeInfo, 20 images, managedFields); `ecapi serve --log-level warn` as its own process; "+
		"the anchor is a bare net/http TLS server (another process, ecapi's certificate) serving ecapi's /v1/nodes bytes "+
		"(%.2f MB) and `{\"status\":\"ok\"}` from memory. Go client, HTTP/1.1 keep-alive over TLS on 127.0.0.1, "+
		"`Accept-Encoding: identity`, %d concurrent clients, %s per throughput run; /v1/health latency from one client, "+
		"%s per run, alone or while %d clients in another process send wrong passwords to POST /v1/auth/token "+
		"in a loop (the first 5 get 401, then the lockout's 429s). %d interleaved rounds; figures are medians, ratios the median of the per-round ratios.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), r.loadAvg, runtime.Version(),
		r.nodes, r.kubeVersion, float64(r.kubeBytes)/float64(r.nodes)/1000, float64(r.nodesBytes)/1e6,
		r.concurrency, r.window, r.latencyWindow, r.stormWorkers, r.rounds)

	fmt.Fprintln(w, "| metric | ecapi | anchor | ratio | goal |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	fmt.Fprintf(w, "| GET /v1/nodes req/s; anchor: kube-apiserver GET /api/v1/nodes, same nodes (%.1f MB per response) | %s | %s | %s× | ≥ %.0f× %s |\n",
		float64(r.kubeBytes)/1e6, rate(median(r.ecapiNodes)), rate(median(r.kubeNodes)), ratio(median(vsKube)),
		goalVsKube, verdict(median(vsKube) >= goalVsKube))
	fmt.Fprintf(w, "| GET /v1/nodes req/s, both `Accept-Encoding: gzip` (ecapi: its %.0f KB copy compressed once per change); anchor: kube-apiserver | %s | %s | %s× | ≥ %.0f× %s |\n",
		float64(r.gzipBytes)/1000, rate(median(r.ecapiGzip)), rate(median(r.kubeGzip)), ratio(median(gzipVsKube)),
		goalVsKube, verdict(median(gzipVsKube) >= goalVsKube))
	fmt.Fprintf(w, "| GET /v1/nodes req/s; anchor: bare Go TLS handler, same %.2f MB | %s | %s | %s× | ≥ %.1f× %s |\n",
		float64(r.nodesBytes)/1e6, rate(median(r.ecapiNodes)), rate(median(r.anchorNodes)), ratio(median(vsAnchor)),
		goalNodesVsAnchor, verdict(median(vsAnchor) >= goalNodesVsAnchor))
	fmt.Fprintf(w, "| GET /v1/health req/s; anchor: bare Go TLS handler | %s | %s | %s× | ≥ %.1f× %s |\n",
		rate(median(r.ecapiHealth)), rate(median(r.anchorHealth)), ratio(median(health)),
		goalHealthVsBare, verdict(median(health) >= goalHealthVsBare))
	fmt.Fprintf(w, "| GET /v1/health p99, 1 client; ecapi: during the login storm (%s req/s), anchor: ecapi idle | %s | %s | %s× | ≤ %.0f× %s |\n",
		rate(median(r.stormRates)), ms(medianDuration(r.stormP99)), ms(medianDuration(r.idleP99)), ratio(median(storm)),
		goalStormP99, verdict(median(storm) <= goalStormP99))
	if r.cli.missing != "" {
		fmt.Fprintf(w, "| `ecapi nodes` wall time, %d nodes; anchor: `kubectl get nodes` | not measured: %s is not installed | | | ≤ %.2f |\n",
			r.nodes, r.cli.missing, goalCLI)
	} else {
		cliRatio := r.cli.ecapi / r.cli.kubectl
		fmt.Fprintf(w, "| `ecapi nodes` wall time, %d nodes (hyperfine, 10 runs, token from ECAPI_TOKEN); anchor: `kubectl get nodes` | %.1f ms | %.1f ms | %.2f | ≤ %.2f %s |\n",
			r.nodes, r.cli.ecapi*1000, r.cli.kubectl*1000, cliRatio, goalCLI, verdict(cliRatio <= goalCLI))
	}

	fmt.Fprintf(w, "\nPer round (ecapi/anchor): /v1/nodes vs kube-apiserver %s; gzip %s; vs bare %s; /v1/health %s; p99 storm/idle %s. "+
		"Login storm answers: %s.\n",
		pairs(r.ecapiNodes, r.kubeNodes, rate), pairs(r.ecapiGzip, r.kubeGzip, rate), pairs(r.ecapiNodes, r.anchorNodes, rate),
		pairs(r.ecapiHealth, r.anchorHealth, rate), pairs(secs(r.stormP99), secs(r.idleP99), func(s float64) string {
			return ms(time.Duration(s * float64(time.Second)))
		}), statuses(r.stormStatuses))
	ceiling := median(div(r.anchorNodes, r.kubeNodes))
	if ceiling < goalVsKube {
		fmt.Fprintf(w, "\nWithout compression the %.0f× goal is out of reach of any server of these bytes: the bare handler "+
			"serving the same %.2f MB reaches %s× kube-apiserver. ecapi's %.1f KB per node are all labels and annotations, "+
			"which the API returns in full. Go clients, the ecapi CLI included, ask for gzip by default.\n",
			goalVsKube, float64(r.nodesBytes)/1e6, ratio(ceiling), float64(r.nodesBytes)/float64(r.nodes)/1000)
	}
	if r.unavailable > 200*time.Millisecond {
		fmt.Fprintf(w, "\nAfter a run against kube-apiserver, ecapi answered /v1/nodes with 503 for up to %.1f s: the saturated "+
			"apiserver missed the node cache's /readyz probe (1 s timeout), which marks the list unavailable. Runs started after it recovered.\n",
			r.unavailable.Seconds())
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(median(f))
}

func rate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func ratio(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func verdict(ok bool) string {
	if ok {
		return "— met"
	}
	return "— **MISSED**"
}

func pairs(a, b []float64, format func(float64) string) string {
	out := make([]string, len(a))
	for i := range a {
		out[i] = format(a[i]) + "/" + format(b[i])
	}
	return strings.Join(out, ", ")
}

func statuses(m map[string]int) string {
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = fmt.Sprintf("%d× %s", m[c], c)
	}
	return strings.Join(out, ", ")
}

// loadAverage is the 1-minute load average: the machine may be shared.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
