package serve

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestAuthAttacks sends forged, tampered and misused tokens to a real
// daemon: every one must be refused with the API's JSON error.
func TestAuthAttacks(t *testing.T) {
	d := startDaemon(t, env)
	login := d.login(t, password)
	_, joinResp := d.createJoin(t, login, `{"roles":["controller"]}`)
	join := joinToken(t, joinResp)

	ctx, cancel := testenv.Ctx()
	defer cancel()
	keySecret, err := env.Client.CoreV1().Secrets("embedded-cluster").Get(ctx, auth.SigningKeySecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kid := string(keySecret.Data["kid"])
	key := keySecret.Data["key-"+kid]
	hash, err := env.Client.CoreV1().Secrets("kotsadm").Get(ctx, "kotsadm-password", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pwf := auth.PasswordFingerprint(hash.Data["passwordBcrypt"])

	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": auth.Issuer, "sub": "installer", "aud": []string{auth.AudienceLogin},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"jti": "attack", "pwf": pwf,
		}
	}
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := valid()
		change(c)
		return c
	}
	sign := func(method jwt.SigningMethod, claims jwt.MapClaims, signKey any, header map[string]any) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		for k, v := range header {
			if v == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = v
			}
		}
		s, err := tok.SignedString(signKey)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return s
	}
	hs := func(claims jwt.MapClaims) string { return sign(jwt.SigningMethodHS256, claims, key, nil) }
	// The control: a forged token with every claim right is accepted, so
	// each refusal below is due to the one thing the case changes.
	if r := d.do(t, "GET", api.PathNodes, hs(valid()), ""); r.Status != 200 {
		t.Fatalf("control token refused: %d %s", r.Status, r.Body)
	}
	unsigned := func(alg string) string {
		h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
		p, _ := json.Marshal(valid())
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	good := hs(valid())
	parts := strings.Split(good, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	otherPayload, _ := json.Marshal(with(func(c jwt.MapClaims) { c["sub"] = "admin" }))

	type attack struct {
		name    string
		path    string
		headers []string
		status  int
	}
	bearer := func(tok string) []string { return []string{"Authorization: Bearer " + tok} }
	nodes, create := api.PathNodes, api.PathCreateJoinCommand
	cases := []attack{
		{"alg none", nodes, bearer(unsigned("none")), 401},
		{"alg None", nodes, bearer(unsigned("None")), 401},
		{"alg NONE", nodes, bearer(unsigned("NONE")), 401},
		{"alg none with a signature", nodes, bearer(unsigned("none") + parts[2]), 401},
		{"HS256 with the empty key", nodes, bearer(sign(jwt.SigningMethodHS256, valid(), []byte{}, nil)), 401},
		{"HS384 with the right key", nodes, bearer(sign(jwt.SigningMethodHS384, valid(), key, nil)), 401},
		{"HS512 with the right key", nodes, bearer(sign(jwt.SigningMethodHS512, valid(), key, nil)), 401},
		{"RS256", nodes, bearer(sign(jwt.SigningMethodRS256, valid(), rsaKey, nil)), 401},
		{"PS256", nodes, bearer(sign(jwt.SigningMethodPS256, valid(), rsaKey, nil)), 401},
		{"ES256", nodes, bearer(sign(jwt.SigningMethodES256, valid(), ecKey, nil)), 401},
		{"EdDSA", nodes, bearer(sign(jwt.SigningMethodEdDSA, valid(), edKey, nil)), 401},
		{"wrong key", nodes, bearer(sign(jwt.SigningMethodHS256, valid(), otherKey, nil)), 401},
		{"unknown kid", nodes, bearer(sign(jwt.SigningMethodHS256, valid(), key, map[string]any{"kid": "0000000000000000"})), 401},
		{"kid path traversal", nodes, bearer(sign(jwt.SigningMethodHS256, valid(), key, map[string]any{"kid": "../../kid"})), 401},
		{"missing kid", nodes, bearer(sign(jwt.SigningMethodHS256, valid(), key, map[string]any{"kid": nil})), 401},
		{"expired", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))), 401},
		{"nbf in the future", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() }))), 401},
		{"iat in the future", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() }))), 401},
		{"missing exp", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "exp") }))), 401},
		{"exp as a string", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))), 401},
		{"missing sub", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "sub") }))), 401},
		{"missing jti", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "jti") }))), 401},
		{"missing iss", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "iss") }))), 401},
		{"wrong iss", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["iss"] = "kubernetes" }))), 401},
		{"missing aud", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "aud") }))), 401},
		{"wrong aud", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["aud"] = []string{"kube-apiserver"} }))), 401},
		{"join token on /v1/nodes", nodes, bearer(join), 401},
		{"join token on create-join-command", create, append(bearer(join), jsonCT), 401},
		{"join token on join-tokens", api.PathJoinTokens, bearer(join), 401},
		{"token from before a password change", nodes, bearer(hs(with(func(c jwt.MapClaims) { c["pwf"] = "stale-password-tag" }))), 401},
		{"missing password tag", nodes, bearer(hs(with(func(c jwt.MapClaims) { delete(c, "pwf") }))), 401},
		{"tampered header", nodes, bearer(flip(parts[0]) + "." + parts[1] + "." + parts[2]), 401},
		{"tampered payload", nodes, bearer(parts[0] + "." + base64.RawURLEncoding.EncodeToString(otherPayload) + "." + parts[2]), 401},
		{"tampered signature", nodes, bearer(parts[0] + "." + parts[1] + "." + flip(parts[2])), 401},
		{"trailing data", nodes, bearer(good + ".x"), 401},
		{"padded signature", nodes, bearer(good + "="), 401},
		{"two segments", nodes, bearer(parts[0] + "." + parts[1]), 401},
		{"huge token", nodes, bearer(strings.Repeat("a", 10<<10)), 401},
		{"empty bearer", nodes, []string{"Authorization: Bearer "}, 401},
		{"Basic scheme", nodes, []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+password))}, 401},
		{"Token scheme", nodes, []string{"Authorization: Token " + good}, 401},
		{"no scheme", nodes, []string{"Authorization: " + good}, 401},
		{"duplicated Authorization headers", nodes, []string{"Authorization: Bearer " + good, "Authorization: Bearer " + login}, 401},
		{"token in the query string", nodes + "?access_token=" + good, nil, 401},
		{"join token for other roles", "/v1/join-bundle?roles=database", bearer(join), 403},
		{"forged join token for a bootstrap token that does not exist", "/v1/join-bundle?roles=controller", bearer(sign(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": auth.Issuer, "sub": "join", "aud": []string{auth.AudienceJoin}, "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(time.Hour).Unix(), "jti": "zzzzzz", "roles": []string{"controller"},
		}, key, nil)), 401},
		{"expired join token", "/v1/join-bundle?roles=controller", bearer(sign(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": auth.Issuer, "sub": "join", "aud": []string{auth.AudienceJoin}, "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(),
			"exp": now.Add(-time.Hour).Unix(), "jti": joinResp.TokenID, "roles": []string{"controller"},
		}, key, nil)), 401},
		{"join token signed with another key", "/v1/join-bundle?roles=controller", bearer(sign(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": auth.Issuer, "sub": "join", "aud": []string{auth.AudienceJoin}, "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(time.Hour).Unix(), "jti": joinResp.TokenID, "roles": []string{"controller"},
		}, otherKey, nil)), 401},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d attack cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, body := "GET", ""
			if c.path == create {
				method, body = "POST", `{"roles":["controller"]}`
			}
			wantError(t, d.do(t, method, c.path, "", body, c.headers...), c.status, "")
		})
	}

	// A revoked join token is refused too.
	if r := d.do(t, "DELETE", api.PathJoinTokens+"/"+joinResp.TokenID, login, ""); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	wantError(t, d.do(t, "GET", "/v1/join-bundle?roles=controller", join, ""), 401, "revoked")
}
