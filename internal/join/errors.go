// Package join turns a request for a join command into real cluster
// material: validated roles, a Kubernetes bootstrap token, the k0s join
// token, the signed cluster seed and the join steps a new host runs.
package join

import "fmt"

// Kind classifies a join failure; the HTTP layer maps each to a status.
type Kind int

const (
	Invalid      Kind = iota + 1 // 400: bad roles or parameters
	Unauthorized                 // 401: token expired, revoked or used up
	Forbidden                    // 403: license or token scope forbids it
	NotFound                     // 404: no such join token
	NotReady                     // 409: no Ready controller yet
	Unavailable                  // 503: the Kubernetes API does not answer
	Internal                     // 500: the data dir or cluster is broken
)

// Error is a join failure with a message a user can act on.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func wrap(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}
