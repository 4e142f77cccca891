package client

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSError reports that the server's certificate could not be verified:
// unknown CA, or a public key that does not match the pinned one.
type TLSError struct {
	Server string
	// Pin is the SPKI pin (sha256//…) of the certificate the server
	// presented, when one was seen.
	Pin string
	// Cert is the leaf certificate the server presented, when one was
	// seen, so that a caller can show its fingerprint (see Fingerprint).
	Cert *x509.Certificate
	Err  error
}

func (e *TLSError) Error() string {
	if e.Pin != "" {
		return fmt.Sprintf("TLS verification of %s failed: %v (server presented %s)", e.Server, e.Err, e.Pin)
	}
	return fmt.Sprintf("TLS verification of %s failed: %v", e.Server, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// ConnectionError reports that the server could not be reached at all.
type ConnectionError struct {
	Server string
	Err    error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.Server, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// ErrPinMismatch is wrapped by a TLSError when the presented key is not the pinned one.
var ErrPinMismatch = errors.New("server public key does not match the pinned key")
