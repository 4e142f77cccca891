// Package e2e holds end-to-end tests: the built ecapi binary as a client
// against `ecapi serve` run as a subprocess of the same binary, backed by a
// real kube-apiserver and etcd (internal/testenv). It has no code of its
// own; see the *_test.go files.
package e2e
