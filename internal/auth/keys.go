// Package auth checks the installer password, throttles guessing, and
// issues and verifies the JWTs every controller shares.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ecapi/ecapi/internal/kube"
)

// SigningKeySecret is the Secret, in ecapi's namespace, holding the HS256
// keys: data "kid" names the current key, "key-<kid>" holds each key.
const SigningKeySecret = "ecapi-signing-key"

const (
	keyDataCurrent = "kid"
	keyDataPrefix  = "key-"
	keySize        = 32
)

// syncTimeout bounds the first read of the watched signing key.
const syncTimeout = 30 * time.Second

// ErrNoSigningKey means the signing-key Secret is missing or unreadable.
var ErrNoSigningKey = errors.New("signing key is not available")

// KeyRing serves the current signing key and every key still accepted,
// read from the shared Secret so all controllers agree.
type KeyRing struct {
	watch *kube.SecretWatch
}

// NewKeyRing creates the signing-key Secret if no controller has yet, then
// watches it for rotations.
func NewKeyRing(ctx context.Context, client kubernetes.Interface, namespace string) (*KeyRing, error) {
	if _, err := kube.EnsureSecret(ctx, client, namespace, SigningKeySecret, newKeyData); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	w := kube.WatchSecret(ctx, client, namespace, SigningKeySecret)
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !w.WaitForSync(syncCtx) {
		return nil, fmt.Errorf("signing key: could not list and watch secret %s/%s within %s: check that ecapi may list and watch it", namespace, SigningKeySecret, syncTimeout)
	}
	return &KeyRing{watch: w}, nil
}

func newKeyData() (map[string][]byte, error) {
	key := make([]byte, keySize)
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, err
	}
	kid := hex.EncodeToString(kidBytes)
	return map[string][]byte{keyDataCurrent: []byte(kid), keyDataPrefix + kid: key}, nil
}

// Current returns the key new tokens are signed with.
func (k *KeyRing) Current() (kid string, key []byte, err error) {
	s := k.watch.Get()
	if s == nil {
		return "", nil, ErrNoSigningKey
	}
	kid = strings.TrimSpace(string(s.Data[keyDataCurrent]))
	key = s.Data[keyDataPrefix+kid]
	if kid == "" || len(key) < keySize {
		return "", nil, fmt.Errorf("%w: secret has no usable current key", ErrNoSigningKey)
	}
	return kid, key, nil
}

// Lookup returns the key with this kid, if it is still accepted.
func (k *KeyRing) Lookup(kid string) ([]byte, bool) {
	s := k.watch.Get()
	if s == nil || kid == "" {
		return nil, false
	}
	key, ok := s.Data[keyDataPrefix+kid]
	return key, ok && len(key) >= keySize
}
