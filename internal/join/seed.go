package join

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/ecapi/ecapi/internal/kube"
)

// SeedKeySecret holds the Ed25519 key that signs cluster seeds, shared by
// all controllers so any of them can vouch for a bundle.
const SeedKeySecret = "ecapi-seed-key"

const seedKeyData = "ed25519-seed"

// Seed is the signed description of the cluster a new node joins.
type Seed struct {
	APIVersion          string            `json:"apiVersion"`
	Kind                string            `json:"kind"`
	ClusterID           string            `json:"clusterID"`
	AppSlug             string            `json:"appSlug"`
	Roles               []string          `json:"roles"`
	NodeLabels          map[string]string `json:"nodeLabels"`
	ControllerAddresses []string          `json:"controllerAddresses"`
	CAHash              string            `json:"caHash"`
	APIPin              string            `json:"apiPin"`
	IssuedAt            string            `json:"issuedAt"`
	ExpiresAt           string            `json:"expiresAt"`
	TokenID             string            `json:"tokenID"`
}

// SeedSigner signs seeds with the shared Ed25519 key.
type SeedSigner struct {
	key ed25519.PrivateKey
}

// NewSeedSigner loads the seed key from ecapi's namespace, creating it if
// no controller has yet.
func NewSeedSigner(ctx context.Context, client kubernetes.Interface, namespace string) (*SeedSigner, error) {
	s, err := kube.EnsureSecret(ctx, client, namespace, SeedKeySecret, func() (map[string][]byte, error) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		return map[string][]byte{seedKeyData: seed}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("seed signing key: %w", err)
	}
	seed := s.Data[seedKeyData]
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("seed signing key: secret %s/%s has no valid %s", namespace, SeedKeySecret, seedKeyData)
	}
	return &SeedSigner{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// Sign encodes the seed and signs the exact bytes; the signature file holds
// the base64 of the raw Ed25519 signature.
func (s *SeedSigner) Sign(seed Seed) (doc, sig []byte, err error) {
	doc, err = json.MarshalIndent(seed, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encode seed: %w", err)
	}
	doc = append(doc, '\n')
	raw := ed25519.Sign(s.key, doc)
	return doc, []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), nil
}

// PublicKeyPEM is the verification key shipped in bundles.
func (s *SeedSigner) PublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(s.key.Public())
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Fingerprint identifies the key: sha256:<hex of its PKIX encoding>.
func (s *SeedSigner) Fingerprint() string {
	der, _ := x509.MarshalPKIXPublicKey(s.key.Public())
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}
