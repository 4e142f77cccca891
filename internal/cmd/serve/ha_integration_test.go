package serve

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestSigningKeyCreationRace starts two controllers at the same moment on
// a cluster without a signing key: both come up, the Secret holds exactly
// one key, and each accepts the other's tokens. (Tokens shared across
// running controllers and revocation seen by the other are covered by
// TestTokenSharedAcrossControllers and TestJoinTokenRevocationAcrossControllers.)
func TestSigningKeyCreationRace(t *testing.T) {
	secrets := env.Client.CoreV1().Secrets("embedded-cluster")
	for round := range 3 {
		ctx := t.Context()
		if err := secrets.Delete(ctx, auth.SigningKeySecret, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("round %d: delete the signing key: %v", round, err)
		}
		opts := []*ServeOptions{prepareDaemon(t, env), prepareDaemon(t, env)}
		daemons := make([]*launched, len(opts))
		errs := make([]error, len(opts))
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i, o := range opts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				daemons[i], errs[i] = launch(o)
			}()
		}
		close(ready)
		wg.Wait()
		for i, l := range daemons {
			if l != nil {
				adopt(t, l, opts[i])
			}
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: controller %d did not start: %v", round, i, err)
			}
		}

		s, err := secrets.Get(ctx, auth.SigningKeySecret, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		kid := string(s.Data["kid"])
		if len(s.Data) != 2 || kid == "" || len(s.Data["key-"+kid]) != 32 {
			t.Fatalf("round %d: signing key Secret holds %v, want kid and one 32-byte key-<kid>", round, keys(s.Data))
		}
		a, b := daemons[0], daemons[1]
		for _, pair := range [][2]*launched{{a, b}, {b, a}} {
			issuer, verifier := pair[0], pair[1]
			token := issuer.login(t, password)
			if got := tokenKid(t, token); got != kid {
				t.Errorf("round %d: token signed with kid %q, the Secret's is %q", round, got, kid)
			}
			if r := verifier.do(t, "GET", api.PathNodes, token, ""); r.Status != http.StatusOK {
				t.Fatalf("round %d: token from %s refused by %s: %d %s", round, issuer.URL, verifier.URL, r.Status, r.Body)
			}
			jt := joinToken(t, issuer.mustCreateJoin(t, token, `{"roles":["controller"]}`))
			if r := verifier.do(t, "GET", controllerBundle, jt, ""); r.Status != http.StatusOK {
				t.Fatalf("round %d: join token from %s refused by %s: %d %s", round, issuer.URL, verifier.URL, r.Status, r.Body)
			}
		}
		for _, l := range daemons {
			if err := l.stop(); err != nil {
				t.Fatalf("round %d: stop: %v", round, err)
			}
		}
	}
}

// tokenKid is the kid header of a JWT.
func tokenKid(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("parse token %s…: %v", raw[:min(len(raw), 16)], err)
	}
	kid, _ := tok.Header["kid"].(string)
	return strings.TrimSpace(kid)
}
