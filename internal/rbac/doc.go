// Package rbac holds no code: its integration tests prove, against a real
// kube-apiserver, that the least-privilege RBAC objects in
// scripts/kubernetes/rbac.yaml are enough for every endpoint of the built
// `ecapi serve` binary, that they grant nothing beyond what ecapi uses, and
// that without them serve refuses to start with an error naming the
// missing permission.
package rbac
