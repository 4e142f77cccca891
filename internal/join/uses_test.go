package join

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newCounted makes a bootstrap token in a fake cluster and the grant a join
// token for it yields.
func newCounted(t *testing.T, maxUses int) (*Service, *fake.Clientset, *Grant) {
	t.Helper()
	client := fake.NewClientset()
	bt, err := createBootstrapToken(context.Background(), client, newToken{
		Roles: []string{"controller"}, Controller: true, Created: time.Now(), TTL: time.Hour, MaxUses: maxUses,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Client: client, Logger: quietLogger()}, client, &Grant{Token: bt, JoinToken: true}
}

func storedUses(t *testing.T, client *fake.Clientset, id string) string {
	t.Helper()
	s, err := client.CoreV1().Secrets(bootstrapNamespace).Get(context.Background(), bootstrapPrefix+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Annotations[annotationUses]
}

func wantKind(t *testing.T, err error, kind Kind, msgPart string) {
	t.Helper()
	var je *Error
	if !errors.As(err, &je) {
		t.Fatalf("error = %v, want a join error of kind %d", err, kind)
	}
	if je.Kind != kind || !strings.Contains(je.Message, msgPart) {
		t.Fatalf("error = kind %d %q, want kind %d mentioning %q", je.Kind, je.Message, kind, msgPart)
	}
}

func TestCountDownloadEnforcesMaxUses(t *testing.T) {
	s, client, g := newCounted(t, 2)
	ctx := context.Background()
	for i := range 2 {
		if err := s.CountDownload(ctx, g); err != nil {
			t.Fatalf("download %d: %v", i+1, err)
		}
	}
	if got := storedUses(t, client, g.Token.ID); got != "2" {
		t.Fatalf("uses annotation = %q, want 2", got)
	}
	wantKind(t, s.CountDownload(ctx, g), Unauthorized, "uses exhausted")
	if got := storedUses(t, client, g.Token.ID); got != "2" {
		t.Fatalf("a refused download changed the count to %q", got)
	}
}

func TestCountDownloadUnlimitedCounts(t *testing.T) {
	s, client, g := newCounted(t, 0)
	for range 3 {
		if err := s.CountDownload(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	if got := storedUses(t, client, g.Token.ID); got != "3" {
		t.Fatalf("uses annotation = %q, want 3", got)
	}
}

// raceOnce makes the first Update lose to another controller that counted a
// use in between, as the kube-apiserver does with a stale resourceVersion.
func raceOnce(t *testing.T, client *fake.Clientset) {
	raced := false
	client.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		obj, err := client.Tracker().Get(secretsGVR, bootstrapNamespace, a.(k8stesting.UpdateAction).GetObject().(*corev1.Secret).Name)
		if err != nil {
			t.Error(err)
			return true, nil, err
		}
		other := obj.(*corev1.Secret).DeepCopy()
		_, uses := useCounts(other.Annotations)
		other.Annotations[annotationUses] = strconv.Itoa(uses + 1)
		if err := client.Tracker().Update(secretsGVR, other, bootstrapNamespace); err != nil {
			t.Error(err)
		}
		return true, nil, apierrors.NewConflict(secretsGVR.GroupResource(), other.Name, errors.New("the object has been modified"))
	})
}

func TestCountDownloadRetriesAfterConflict(t *testing.T) {
	s, client, g := newCounted(t, 2)
	raceOnce(t, client)
	if err := s.CountDownload(context.Background(), g); err != nil {
		t.Fatalf("second-to-last use after a conflict: %v", err)
	}
	if got := storedUses(t, client, g.Token.ID); got != "2" {
		t.Fatalf("uses = %q, want 2 (the racer's and ours)", got)
	}
}

func TestCountDownloadLosesLastUseToRacer(t *testing.T) {
	s, client, g := newCounted(t, 1)
	raceOnce(t, client)
	wantKind(t, s.CountDownload(context.Background(), g), Unauthorized, "uses exhausted")
	if got := storedUses(t, client, g.Token.ID); got != "1" {
		t.Fatalf("uses = %q, want 1 (only the racer's)", got)
	}
}

func alwaysConflict(client *fake.Clientset) {
	client.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(secretsGVR.GroupResource(), "x", errors.New("modified"))
	})
}

func TestCountDownloadBusySecret(t *testing.T) {
	s, client, g := newCounted(t, 5)
	alwaysConflict(client)
	wantKind(t, s.CountDownload(context.Background(), g), Unavailable, "retry shortly")
	updates := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			updates++
		}
	}
	if updates != countAttempts {
		t.Fatalf("%d updates, want %d attempts", updates, countAttempts)
	}

	// Without a limit the count is informational: the download goes on.
	s, client, g = newCounted(t, 0)
	alwaysConflict(client)
	if err := s.CountDownload(context.Background(), g); err != nil {
		t.Fatalf("unlimited token with a busy Secret: %v", err)
	}
}

func TestCountDownloadRevoked(t *testing.T) {
	s, client, g := newCounted(t, 1)
	if err := client.CoreV1().Secrets(bootstrapNamespace).Delete(context.Background(), bootstrapPrefix+g.Token.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.CountDownload(context.Background(), g), Unauthorized, "revoked")
}

func TestCountDownloadSkipsLoginGrants(t *testing.T) {
	s, client, g := newCounted(t, 1)
	g.JoinToken = false
	client.ClearActions()
	for range 3 {
		if err := s.CountDownload(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(client.Actions()); n != 0 {
		t.Fatalf("a login-token grant made %d API calls", n)
	}
}

func TestParseMaxUses(t *testing.T) {
	for _, n := range []int{0, 1, MaxUsesLimit} {
		if got, err := parseMaxUses(n); err != nil || got != n {
			t.Errorf("parseMaxUses(%d) = %d, %v", n, got, err)
		}
	}
	for _, n := range []int{-1, MaxUsesLimit + 1} {
		_, err := parseMaxUses(n)
		wantKind(t, err, Invalid, "maxUses")
	}
}

func TestUseCountsFailClosed(t *testing.T) {
	for _, tc := range []struct {
		ann           map[string]string
		maxUses, uses int
	}{
		{map[string]string{}, 0, 0},
		{map[string]string{annotationUses: "3"}, 0, 3},
		{map[string]string{annotationMaxUses: "2", annotationUses: "1"}, 2, 1},
		{map[string]string{annotationMaxUses: "many", annotationUses: "0"}, 1, 0},
		{map[string]string{annotationMaxUses: "-4", annotationUses: "0"}, 1, 0},
		{map[string]string{annotationMaxUses: "3", annotationUses: "x"}, 3, 3},
		{map[string]string{annotationUses: "-1"}, 0, 1},
	} {
		m, u := useCounts(tc.ann)
		if m != tc.maxUses || u != tc.uses {
			t.Errorf("useCounts(%v) = %d, %d; want %d, %d", tc.ann, m, u, tc.maxUses, tc.uses)
		}
	}
}
