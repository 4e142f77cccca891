package join

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Bootstrap-token Secret layout (k8s.io/cluster-bootstrap conventions).
const (
	bootstrapNamespace = "kube-system"
	bootstrapPrefix    = "bootstrap-token-"
	bootstrapType      = corev1.SecretType("bootstrap.kubernetes.io/token")

	labelManagedBy   = "app.kubernetes.io/managed-by"
	annotationRoles  = "ecapi.replicated.com/roles"
	annotationClient = "ecapi.replicated.com/creator-ip"
	// The use limit (absent: unlimited) and the count of bundle downloads.
	annotationMaxUses = "ecapi.replicated.com/max-uses"
	annotationUses    = "ecapi.replicated.com/uses"
)

var tokenIDPattern = regexp.MustCompile(`^[a-z0-9]{6}$`)

// BootstrapToken is one k0s/Kubernetes bootstrap token ecapi made.
type BootstrapToken struct {
	ID         string
	Secret     string
	Roles      []string
	Controller bool
	Created    time.Time
	Expires    time.Time
	CreatorIP  string
	// MaxUses limits bundle downloads (0: unlimited); Uses counts them.
	MaxUses int
	Uses    int
}

// Value is the token as kubelets and k0s send it: <id>.<secret>.
func (t BootstrapToken) Value() string { return t.ID + "." + t.Secret }

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) (string, error) {
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(tokenAlphabet))))
		if err != nil {
			return "", err
		}
		b[i] = tokenAlphabet[k.Int64()]
	}
	return string(b), nil
}

// newToken describes a bootstrap token to create.
type newToken struct {
	Roles      []string
	Controller bool
	CreatorIP  string
	Created    time.Time
	TTL        time.Duration
	MaxUses    int
	// Uses starts the count: 1 for a token made for a download at hand.
	Uses int
}

// createBootstrapToken stores a new bootstrap token; controller tokens get
// the usage k0s checks for controller joins, worker tokens the usages that
// let kubelets authenticate and sign.
func createBootstrapToken(ctx context.Context, client kubernetes.Interface, spec newToken) (BootstrapToken, error) {
	secrets := client.CoreV1().Secrets(bootstrapNamespace)
	for attempt := 0; attempt < 5; attempt++ {
		id, err := randomString(6)
		if err != nil {
			return BootstrapToken{}, fmt.Errorf("token id: %w", err)
		}
		secret, err := randomString(16)
		if err != nil {
			return BootstrapToken{}, fmt.Errorf("token secret: %w", err)
		}
		t := BootstrapToken{
			ID: id, Secret: secret, Roles: spec.Roles, Controller: spec.Controller,
			Created: spec.Created, Expires: spec.Created.Add(spec.TTL), CreatorIP: spec.CreatorIP,
			MaxUses: spec.MaxUses, Uses: spec.Uses,
		}
		rolesJSON, _ := json.Marshal(spec.Roles)
		data := map[string][]byte{
			"token-id":     []byte(id),
			"token-secret": []byte(secret),
			"expiration":   []byte(t.Expires.UTC().Format(time.RFC3339)),
			"description":  []byte("ecapi join token for roles " + strings.Join(spec.Roles, ", ")),
		}
		if spec.Controller {
			data["usage-controller-join"] = []byte("true")
		} else {
			data["usage-bootstrap-authentication"] = []byte("true")
			data["usage-bootstrap-signing"] = []byte("true")
		}
		annotations := map[string]string{
			annotationRoles:  string(rolesJSON),
			annotationClient: spec.CreatorIP,
			annotationUses:   strconv.Itoa(spec.Uses),
		}
		if spec.MaxUses > 0 {
			annotations[annotationMaxUses] = strconv.Itoa(spec.MaxUses)
		}
		obj := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: bootstrapPrefix + id, Namespace: bootstrapNamespace,
				Labels:      map[string]string{labelManagedBy: "ecapi"},
				Annotations: annotations,
			},
			Type: bootstrapType,
			Data: data,
		}
		_, err = secrets.Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue // a 1-in-2-billion id clash: draw again
		}
		if err != nil {
			return BootstrapToken{}, fmt.Errorf("create bootstrap token secret: %w", err)
		}
		return t, nil
	}
	return BootstrapToken{}, fmt.Errorf("create bootstrap token secret: five id clashes in a row")
}

// getBootstrapToken reads a bootstrap token back; ok is false when it no
// longer exists (revoked).
func getBootstrapToken(ctx context.Context, client kubernetes.Interface, id string) (BootstrapToken, bool, error) {
	s, err := client.CoreV1().Secrets(bootstrapNamespace).Get(ctx, bootstrapPrefix+id, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return BootstrapToken{}, false, nil
	}
	if err != nil {
		return BootstrapToken{}, false, err
	}
	return fromSecret(s), true, nil
}

func fromSecret(s *corev1.Secret) BootstrapToken {
	t := BootstrapToken{
		ID:         string(s.Data["token-id"]),
		Secret:     string(s.Data["token-secret"]),
		Controller: string(s.Data["usage-controller-join"]) == "true",
		Created:    s.CreationTimestamp.Time,
		CreatorIP:  s.Annotations[annotationClient],
	}
	_ = json.Unmarshal([]byte(s.Annotations[annotationRoles]), &t.Roles)
	if exp, err := time.Parse(time.RFC3339, string(s.Data["expiration"])); err == nil {
		t.Expires = exp
	}
	t.MaxUses, t.Uses = useCounts(s.Annotations)
	return t
}

// useCounts reads the use annotations. Edited-in garbage fails closed: an
// unreadable limit allows one use, an unreadable count uses the limit up.
func useCounts(annotations map[string]string) (maxUses, uses int) {
	if v, ok := annotations[annotationMaxUses]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			n = 1
		}
		maxUses = n
	}
	if v, ok := annotations[annotationUses]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			n = max(maxUses, 1)
		}
		uses = n
	}
	return maxUses, uses
}

// sortByCreation orders tokens oldest first (ids break ties, for a stable
// order within one second).
func sortByCreation(tokens []BootstrapToken) {
	sort.Slice(tokens, func(i, j int) bool {
		if !tokens[i].Created.Equal(tokens[j].Created) {
			return tokens[i].Created.Before(tokens[j].Created)
		}
		return tokens[i].ID < tokens[j].ID
	})
}

// listBootstrapTokens returns the tokens ecapi created that still exist.
func listBootstrapTokens(ctx context.Context, client kubernetes.Interface) ([]BootstrapToken, error) {
	list, err := client.CoreV1().Secrets(bootstrapNamespace).List(ctx, metav1.ListOptions{LabelSelector: labelManagedBy + "=ecapi"})
	if err != nil {
		return nil, err
	}
	out := make([]BootstrapToken, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].Type == bootstrapType {
			out = append(out, fromSecret(&list.Items[i]))
		}
	}
	return out, nil
}
