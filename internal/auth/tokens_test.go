package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ecapi/ecapi/internal/auth"
)

// testNow is the fixed clock of token tests.
var testNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// fakeKeys is an in-memory KeySource whose ring can be rotated.
type fakeKeys struct {
	mu      sync.Mutex
	current string
	keys    map[string][]byte
}

func newFakeKeys(t *testing.T, kid string) *fakeKeys {
	t.Helper()
	k := &fakeKeys{keys: map[string][]byte{}}
	k.add(t, kid)
	k.current = kid
	return k
}

func (k *fakeKeys) add(t *testing.T, kid string) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[kid] = key
	return key
}

func (k *fakeKeys) setCurrent(kid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.current = kid
}

func (k *fakeKeys) remove(kid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, kid)
}

func (k *fakeKeys) key(kid string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[kid]
}

func (k *fakeKeys) Current() (string, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[k.current]
	if !ok {
		return "", nil, auth.ErrNoSigningKey
	}
	return k.current, key, nil
}

func (k *fakeKeys) Lookup(kid string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[kid]
	return key, ok
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

func hmacSig(h func() hash.Hash, key []byte, signingInput string) string {
	mac := hmac.New(h, key)
	mac.Write([]byte(signingInput))
	return b64(mac.Sum(nil))
}

// forgeHS builds a token by hand so headers and claims can be anything.
func forgeHS(t *testing.T, header, claims map[string]any, h func() hash.Hash, key []byte) string {
	t.Helper()
	input := jsonSegment(t, header) + "." + jsonSegment(t, claims)
	return input + "." + hmacSig(h, key, input)
}

// signWith signs claims with a library-supported asymmetric or HMAC method.
func signWith(t *testing.T, method jwt.SigningMethod, kid string, claims map[string]any, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return raw
}

func loginClaims() map[string]any {
	return map[string]any{
		"iss": auth.Issuer,
		"sub": "installer",
		"aud": []string{auth.AudienceLogin},
		"iat": testNow.Unix(),
		"nbf": testNow.Unix(),
		"exp": testNow.Add(auth.LoginTTL).Unix(),
		"jti": "0123456789abcdef",
		"pwf": "fingerprint",
	}
}

func joinClaims() map[string]any {
	c := loginClaims()
	delete(c, "pwf")
	c["aud"] = []string{auth.AudienceJoin}
	c["jti"] = "abc123"
	c["roles"] = []string{"controller"}
	c["exp"] = testNow.Add(time.Hour).Unix()
	return c
}

func with(c map[string]any, key string, v any) map[string]any {
	c[key] = v
	return c
}

func without(c map[string]any, key string) map[string]any {
	delete(c, key)
	return c
}

func hs256Header(kid string) map[string]any {
	return map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}
}

// Reasons a TokenError carries; cases match by prefix.
const (
	reasonMalformed   = "malformed token"
	reasonUnknownKey  = "token signed with an unknown key"
	reasonBadSig      = "bad token signature"
	reasonLoginAud    = "wrong token audience"
	reasonNotJoin     = "not a join token"
	reasonExpired     = "token expired at "
	reasonNotYet      = "token not valid yet"
	reasonIssuer      = "token from another issuer"
	reasonMissing     = "token lacks a required claim"
	reasonNoSubject   = "token has no subject"
	reasonNoID        = "token has no id"
	reasonJoinNoRoles = "join token lacks its token id or roles"
)

func TestVerifyRejectsAttacks(t *testing.T) {
	const kid = "k1"
	keys := newFakeKeys(t, kid)
	key := keys.key(kid)
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(testNow)}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := make([]byte, 32)
	if _, err := rand.Read(otherKey); err != nil {
		t.Fatal(err)
	}

	validLogin := func(t *testing.T) string { return forgeHS(t, hs256Header(kid), loginClaims(), sha256.New, key) }
	validJoin := func(t *testing.T) string { return forgeHS(t, hs256Header(kid), joinClaims(), sha256.New, key) }
	// replaceSegment swaps one of a valid login token's three segments.
	replaceSegment := func(t *testing.T, i int, seg string) string {
		parts := strings.Split(validLogin(t), ".")
		parts[i] = seg
		return strings.Join(parts, ".")
	}

	type verifier string
	const (
		login verifier = "login"
		join  verifier = "join"
	)
	cases := []struct {
		name   string
		verify verifier
		token  func(t *testing.T) string
		reason string
	}{
		{"alg none", login, func(t *testing.T) string {
			return jsonSegment(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + jsonSegment(t, loginClaims()) + "."
		}, reasonBadSig},
		{"alg None", login, func(t *testing.T) string {
			return jsonSegment(t, map[string]any{"alg": "None", "typ": "JWT", "kid": kid}) + "." + jsonSegment(t, loginClaims()) + "."
		}, reasonBadSig},
		{"alg none on join", join, func(t *testing.T) string {
			return jsonSegment(t, map[string]any{"alg": "none", "kid": kid}) + "." + jsonSegment(t, joinClaims()) + "."
		}, reasonBadSig},
		{"alg missing", login, func(t *testing.T) string {
			return forgeHS(t, map[string]any{"typ": "JWT", "kid": kid}, loginClaims(), sha256.New, key)
		}, reasonBadSig},
		{"alg lower-case hs256", login, func(t *testing.T) string {
			return forgeHS(t, map[string]any{"alg": "hs256", "kid": kid}, loginClaims(), sha256.New, key)
		}, reasonBadSig},
		{"HS256 with empty key", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), loginClaims(), sha256.New, []byte{})
		}, reasonBadSig},
		{"HS384 with the right key", login, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodHS384, kid, loginClaims(), key)
		}, reasonBadSig},
		{"HS512 with the right key", login, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodHS512, kid, loginClaims(), key)
		}, reasonBadSig},
		{"RS256", login, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodRS256, kid, loginClaims(), rsaKey)
		}, reasonBadSig},
		{"ES256", login, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodES256, kid, loginClaims(), ecKey)
		}, reasonBadSig},
		{"EdDSA", login, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodEdDSA, kid, loginClaims(), edKey)
		}, reasonBadSig},
		{"RS256 join token", join, func(t *testing.T) string {
			return signWith(t, jwt.SigningMethodRS256, kid, joinClaims(), rsaKey)
		}, reasonBadSig},
		{"wrong key", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), loginClaims(), sha256.New, otherKey)
		}, reasonBadSig},
		{"wrong key on join", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), joinClaims(), sha256.New, otherKey)
		}, reasonBadSig},
		{"unknown kid", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header("nope"), loginClaims(), sha256.New, key)
		}, reasonUnknownKey},
		{"missing kid", login, func(t *testing.T) string {
			return forgeHS(t, map[string]any{"alg": "HS256", "typ": "JWT"}, loginClaims(), sha256.New, key)
		}, reasonUnknownKey},
		{"numeric kid", login, func(t *testing.T) string {
			return forgeHS(t, map[string]any{"alg": "HS256", "kid": 1}, loginClaims(), sha256.New, key)
		}, reasonUnknownKey},
		{"expired beyond leeway", login, func(t *testing.T) string {
			c := with(loginClaims(), "exp", testNow.Add(-auth.Leeway-time.Second).Unix())
			c["iat"], c["nbf"] = testNow.Add(-25*time.Hour).Unix(), testNow.Add(-25*time.Hour).Unix()
			return forgeHS(t, hs256Header(kid), c, sha256.New, key)
		}, reasonExpired},
		{"expired join token", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(joinClaims(), "exp", testNow.Add(-time.Hour).Unix()), sha256.New, key)
		}, reasonExpired},
		{"nbf beyond leeway", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(loginClaims(), "nbf", testNow.Add(auth.Leeway+time.Second).Unix()), sha256.New, key)
		}, reasonNotYet},
		{"iat beyond leeway", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(loginClaims(), "iat", testNow.Add(auth.Leeway+time.Second).Unix()), sha256.New, key)
		}, reasonNotYet},
		{"missing exp", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(loginClaims(), "exp"), sha256.New, key)
		}, reasonMissing},
		{"missing exp on join", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(joinClaims(), "exp"), sha256.New, key)
		}, reasonMissing},
		{"missing iss", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(loginClaims(), "iss"), sha256.New, key)
		}, reasonMissing},
		{"missing aud", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(loginClaims(), "aud"), sha256.New, key)
		}, reasonMissing},
		{"missing sub", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(loginClaims(), "sub"), sha256.New, key)
		}, reasonNoSubject},
		{"missing jti", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(loginClaims(), "jti"), sha256.New, key)
		}, reasonNoID},
		{"missing jti on join", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(joinClaims(), "jti"), sha256.New, key)
		}, reasonNoID},
		{"join token without roles", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), without(joinClaims(), "roles"), sha256.New, key)
		}, reasonJoinNoRoles},
		{"join token with empty roles", join, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(joinClaims(), "roles", []string{}), sha256.New, key)
		}, reasonJoinNoRoles},
		{"wrong aud", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(loginClaims(), "aud", []string{"someone-else"}), sha256.New, key)
		}, reasonLoginAud},
		{"join token on VerifyLogin", login, validJoin, reasonLoginAud},
		{"login token on VerifyJoin", join, validLogin, reasonNotJoin},
		{"wrong iss", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(loginClaims(), "iss", "evil"), sha256.New, key)
		}, reasonIssuer},
		{"tampered header", login, func(t *testing.T) string {
			return replaceSegment(t, 0, jsonSegment(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid, "x": 1}))
		}, reasonBadSig},
		{"tampered payload", login, func(t *testing.T) string {
			return replaceSegment(t, 1, jsonSegment(t, with(loginClaims(), "sub", "admin")))
		}, reasonBadSig},
		{"tampered signature", login, func(t *testing.T) string {
			sig, _ := base64.RawURLEncoding.DecodeString(strings.Split(validLogin(t), ".")[2])
			sig[0] ^= 0x01
			return replaceSegment(t, 2, b64(sig))
		}, reasonBadSig},
		{"empty signature", login, func(t *testing.T) string { return replaceSegment(t, 2, "") }, reasonBadSig},
		{"trailing data after signature", login, func(t *testing.T) string { return validLogin(t) + "AAAA" }, reasonBadSig},
		{"trailing space after signature", login, func(t *testing.T) string { return validLogin(t) + " " }, reasonMalformed},
		{"extra dot segment", login, func(t *testing.T) string { return validLogin(t) + ".e30" }, reasonMalformed},
		{"trailing dot", login, func(t *testing.T) string { return validLogin(t) + "." }, reasonMalformed},
		{"two segments", login, func(t *testing.T) string {
			parts := strings.Split(validLogin(t), ".")
			return parts[0] + "." + parts[1]
		}, reasonMalformed},
		{"base64 padding on signature", login, func(t *testing.T) string { return validLogin(t) + "=" }, reasonMalformed},
		{"base64 padding on payload", login, func(t *testing.T) string {
			input := jsonSegment(t, hs256Header(kid)) + "." + base64.URLEncoding.EncodeToString(mustJSON(t, loginClaims()))
			if !strings.HasSuffix(input, "=") {
				input += "=" // keep the case about padding even if the claims' length changes
			}
			return input + "." + hmacSig(sha256.New, key, input)
		}, reasonMalformed},
		{"standard base64 alphabet", login, func(t *testing.T) string {
			sig := strings.Split(validLogin(t), ".")[2]
			return replaceSegment(t, 2, "+/"+sig[2:])
		}, reasonMalformed},
		{"non-canonical trailing bits", login, func(t *testing.T) string {
			// A 32-byte HMAC is 43 base64url characters whose last one carries
			// 2 unused bits; strict decoding must reject them being set.
			raw := validLogin(t)
			last := raw[len(raw)-1]
			idx := strings.IndexByte(alphabet, last)
			return raw[:len(raw)-1] + string(alphabet[idx|0x01])
		}, reasonMalformed},
		{"header not JSON", login, func(t *testing.T) string { return replaceSegment(t, 0, b64([]byte("not json"))) }, reasonMalformed},
		{"claims not JSON", login, func(t *testing.T) string { return replaceSegment(t, 1, b64([]byte("[1,2"))) }, reasonMalformed},
		{"exp of the wrong type", login, func(t *testing.T) string {
			return forgeHS(t, hs256Header(kid), with(loginClaims(), "exp", map[string]any{"a": 1}), sha256.New, key)
		}, reasonMalformed},
		{"huge token", login, func(t *testing.T) string {
			c := with(loginClaims(), "junk", strings.Repeat("A", 1<<20))
			return forgeHS(t, hs256Header(kid), c, sha256.New, otherKey)
		}, reasonBadSig},
		{"huge garbage", login, func(t *testing.T) string { return strings.Repeat("!", 1<<20) }, reasonMalformed},
		{"empty string", login, func(t *testing.T) string { return "" }, reasonMalformed},
		{"empty string on join", join, func(t *testing.T) string { return "" }, reasonMalformed},
		{"just dots", login, func(t *testing.T) string { return ".." }, reasonMalformed},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d attack cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.token(t)
			var err error
			switch tc.verify {
			case login:
				var c *auth.LoginClaims
				c, err = tokens.VerifyLogin(raw)
				if err == nil {
					t.Fatalf("VerifyLogin accepted the token: %+v", c)
				}
			case join:
				var c *auth.JoinClaims
				c, err = tokens.VerifyJoin(raw)
				if err == nil {
					t.Fatalf("VerifyJoin accepted the token: %+v", c)
				}
			}
			var te *auth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %T %v is not a *auth.TokenError", err, err)
			}
			if !strings.HasPrefix(te.Reason, tc.reason) {
				t.Errorf("reason %q, want prefix %q (cause: %v)", te.Reason, tc.reason, te.Err)
			}
			if te.Error() != te.Reason {
				t.Errorf("Error() %q differs from Reason %q", te.Error(), te.Reason)
			}
		})
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAcceptsWithinLeeway(t *testing.T) {
	const kid = "k1"
	keys := newFakeKeys(t, kid)
	key := keys.key(kid)
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(testNow)}

	cases := []struct {
		name   string
		claims map[string]any
	}{
		{"expired within leeway", with(loginClaims(), "exp", testNow.Add(-auth.Leeway+time.Second).Unix())},
		{"nbf within leeway", with(loginClaims(), "nbf", testNow.Add(auth.Leeway-time.Second).Unix())},
		{"iat within leeway", with(loginClaims(), "iat", testNow.Add(auth.Leeway-time.Second).Unix())},
		{"no nbf", without(loginClaims(), "nbf")},
		{"no iat", without(loginClaims(), "iat")},
		{"aud as a string", with(loginClaims(), "aud", auth.AudienceLogin)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := forgeHS(t, hs256Header(kid), tc.claims, sha256.New, key)
			c, err := tokens.VerifyLogin(raw)
			if err != nil {
				t.Fatalf("VerifyLogin: %v", err)
			}
			if c.Subject != "installer" || c.PasswordFingerprint != "fingerprint" {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func tokenHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode header: %v", err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("decode header: %v", err)
	}
	return h
}

func TestIssueLoginRoundTrip(t *testing.T) {
	keys := newFakeKeys(t, "kid-a")
	// A clock with sub-second precision: issued times are whole seconds.
	now := testNow.Add(700 * time.Millisecond)
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(now)}

	raw, exp, err := tokens.IssueLogin("installer", "pwf-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(24 * time.Hour); !exp.Equal(want) {
		t.Errorf("expiry %v, want %v", exp, want)
	}
	h := tokenHeader(t, raw)
	if h["kid"] != "kid-a" || h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header %v, want kid kid-a, alg HS256, typ JWT", h)
	}
	c, err := tokens.VerifyLogin(raw)
	if err != nil {
		t.Fatalf("VerifyLogin: %v", err)
	}
	if c.Subject != "installer" || c.Issuer != auth.Issuer || c.PasswordFingerprint != "pwf-1" {
		t.Errorf("claims %+v", c)
	}
	if !slices.Equal([]string(c.Audience), []string{auth.AudienceLogin}) {
		t.Errorf("audience %v", c.Audience)
	}
	if !c.IssuedAt.Equal(testNow) || !c.NotBefore.Equal(testNow) || !c.ExpiresAt.Equal(testNow.Add(auth.LoginTTL)) {
		t.Errorf("times iat %v nbf %v exp %v", c.IssuedAt, c.NotBefore, c.ExpiresAt)
	}
	if !hexID.MatchString(c.ID) {
		t.Errorf("jti %q is not 16 random bytes in hex", c.ID)
	}

	raw2, _, err := tokens.IssueLogin("installer", "pwf-1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tokens.VerifyLogin(raw2)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ID == c.ID {
		t.Errorf("two logins share jti %q", c.ID)
	}

	// 24 hours later (plus leeway) the token is expired.
	later := &auth.Tokens{Keys: keys, Now: fixedClock(testNow.Add(auth.LoginTTL + auth.Leeway + time.Second))}
	if _, err := later.VerifyLogin(raw); err == nil {
		t.Error("token still valid after 24h and the leeway")
	}
	// Just before expiry it is still accepted.
	before := &auth.Tokens{Keys: keys, Now: fixedClock(testNow.Add(auth.LoginTTL - time.Second))}
	if _, err := before.VerifyLogin(raw); err != nil {
		t.Errorf("token refused a second before expiry: %v", err)
	}
}

func TestIssueJoinRoundTrip(t *testing.T) {
	keys := newFakeKeys(t, "kid-a")
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(testNow)}
	issued := testNow.Add(-10*time.Minute + 300*time.Millisecond)

	raw, exp, err := tokens.IssueJoin("installer", "abc123", []string{"controller", "web"}, issued, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantIssued := testNow.Add(-10 * time.Minute)
	if !exp.Equal(wantIssued.Add(time.Hour)) {
		t.Errorf("expiry %v, want %v", exp, wantIssued.Add(time.Hour))
	}
	if h := tokenHeader(t, raw); h["kid"] != "kid-a" || h["alg"] != "HS256" {
		t.Errorf("header %v", h)
	}
	c, err := tokens.VerifyJoin(raw)
	if err != nil {
		t.Fatalf("VerifyJoin: %v", err)
	}
	if c.ID != "abc123" || c.Subject != "installer" || !slices.Equal(c.Roles, []string{"controller", "web"}) {
		t.Errorf("claims %+v", c)
	}
	if !slices.Equal([]string(c.Audience), []string{auth.AudienceJoin}) {
		t.Errorf("audience %v", c.Audience)
	}
	if !c.IssuedAt.Equal(wantIssued) {
		t.Errorf("iat %v, want %v", c.IssuedAt, wantIssued)
	}
	if _, err := tokens.VerifyLogin(raw); err == nil {
		t.Error("join token accepted as a login token")
	}
}

func TestIssueWithoutKey(t *testing.T) {
	keys := newFakeKeys(t, "k1")
	keys.setCurrent("gone")
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(testNow)}
	if _, _, err := tokens.IssueLogin("installer", "f"); !errors.Is(err, auth.ErrNoSigningKey) {
		t.Errorf("IssueLogin error %v, want ErrNoSigningKey", err)
	}
	if _, _, err := tokens.IssueJoin("installer", "abc123", []string{"controller"}, testNow, time.Hour); !errors.Is(err, auth.ErrNoSigningKey) {
		t.Errorf("IssueJoin error %v, want ErrNoSigningKey", err)
	}
}

func TestKeyRotation(t *testing.T) {
	keys := newFakeKeys(t, "old")
	tokens := &auth.Tokens{Keys: keys, Now: fixedClock(testNow)}
	oldLogin, _, err := tokens.IssueLogin("installer", "f")
	if err != nil {
		t.Fatal(err)
	}
	oldJoin, _, err := tokens.IssueJoin("installer", "abc123", []string{"controller"}, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	keys.add(t, "new")
	keys.setCurrent("new")
	newLogin, _, err := tokens.IssueLogin("installer", "f")
	if err != nil {
		t.Fatal(err)
	}
	if h := tokenHeader(t, newLogin); h["kid"] != "new" {
		t.Errorf("after rotation tokens are signed with kid %v, want new", h["kid"])
	}
	for name, verify := range map[string]func() error{
		"old login": func() error { _, err := tokens.VerifyLogin(oldLogin); return err },
		"old join":  func() error { _, err := tokens.VerifyJoin(oldJoin); return err },
		"new login": func() error { _, err := tokens.VerifyLogin(newLogin); return err },
	} {
		if err := verify(); err != nil {
			t.Errorf("%s while both keys are in the ring: %v", name, err)
		}
	}

	keys.remove("old")
	for name, raw := range map[string]string{"login": oldLogin, "join": oldJoin} {
		var err error
		if name == "login" {
			_, err = tokens.VerifyLogin(raw)
		} else {
			_, err = tokens.VerifyJoin(raw)
		}
		var te *auth.TokenError
		if !errors.As(err, &te) || te.Reason != reasonUnknownKey {
			t.Errorf("old %s token after its key left the ring: %v, want %q", name, err, reasonUnknownKey)
		}
	}
	if _, err := tokens.VerifyLogin(newLogin); err != nil {
		t.Errorf("new token after removing the old key: %v", err)
	}
}

func TestPasswordFingerprint(t *testing.T) {
	a := []byte("$2a$10$abcdefghijklmnopqrstuuJ3n2cKfq0X3u0rHAbF5UQ0Xh2cSx8a")
	b := []byte("$2a$10$abcdefghijklmnopqrstuuJ3n2cKfq0X3u0rHAbF5UQ0Xh2cSx8b")
	fa := auth.PasswordFingerprint(a)
	if fa != auth.PasswordFingerprint(append([]byte(nil), a...)) {
		t.Error("fingerprint is not deterministic")
	}
	if fa == auth.PasswordFingerprint(b) {
		t.Error("different hashes share a fingerprint")
	}
	if fa == auth.PasswordFingerprint(nil) {
		t.Error("fingerprint of a hash equals that of nothing")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(fa) {
		t.Errorf("fingerprint %q is not 16 bytes of base64url", fa)
	}
	if strings.Contains(fa, string(a)) {
		t.Error("fingerprint contains the hash")
	}
}
