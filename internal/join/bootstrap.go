package join

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
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

// createBootstrapToken stores a new bootstrap token; controller tokens get
// the usage k0s checks for controller joins, worker tokens the usages that
// let kubelets authenticate and sign.
func createBootstrapToken(ctx context.Context, client kubernetes.Interface, roles []string, controller bool, creatorIP string, now time.Time, ttl time.Duration) (BootstrapToken, error) {
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
		t := BootstrapToken{ID: id, Secret: secret, Roles: roles, Controller: controller, Created: now, Expires: now.Add(ttl), CreatorIP: creatorIP}
		rolesJSON, _ := json.Marshal(roles)
		data := map[string][]byte{
			"token-id":     []byte(id),
			"token-secret": []byte(secret),
			"expiration":   []byte(t.Expires.UTC().Format(time.RFC3339)),
			"description":  []byte("ecapi join token for roles " + strings.Join(roles, ", ")),
		}
		if controller {
			data["usage-controller-join"] = []byte("true")
		} else {
			data["usage-bootstrap-authentication"] = []byte("true")
			data["usage-bootstrap-signing"] = []byte("true")
		}
		obj := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: bootstrapPrefix + id, Namespace: bootstrapNamespace,
				Labels:      map[string]string{labelManagedBy: "ecapi"},
				Annotations: map[string]string{annotationRoles: string(rolesJSON), annotationClient: creatorIP},
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
	return t
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
