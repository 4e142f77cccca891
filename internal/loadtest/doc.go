// Package loadtest holds the load suite: `ecapi serve`, built and run as a
// subprocess against a real kube-apiserver (internal/testenv), under
// hundreds of concurrent loopback clients, bounded in time and stopping by
// itself. It has no code of its own; the tests carry the build tag `long`
// and run with `make test-long`
// (go test -tags long ./internal/loadtest/).
package loadtest
