package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token audiences: login tokens work on the API routes, join tokens only on
// GET /v1/join-bundle.
const (
	Issuer        = "ecapi"
	AudienceLogin = "ecapi"
	AudienceJoin  = "join-bundle"
	// LoginTTL is the documented lifetime of a login token.
	LoginTTL = 24 * time.Hour
	// Leeway tolerates clock skew between controllers and clients.
	Leeway = time.Minute
)

// LoginClaims are the claims of a login token.
type LoginClaims struct {
	jwt.RegisteredClaims
	// PasswordFingerprint ties the token to the password hash it was issued
	// under: changing the password revokes every earlier token.
	PasswordFingerprint string `json:"pwf"`
}

// JoinClaims are the claims of a join token; ID (jti) is the bootstrap token id.
type JoinClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
}

// KeySource provides signing keys.
type KeySource interface {
	Current() (kid string, key []byte, err error)
	Lookup(kid string) ([]byte, bool)
}

// Tokens issues and verifies ecapi's JWTs (HS256 only).
type Tokens struct {
	Keys KeySource
	Now  func() time.Time
}

// TokenError says why a token was refused; Reason is safe to show clients.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string { return e.Reason }
func (e *TokenError) Unwrap() error { return e.Err }

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// IssueLogin signs a login token for the holder of the password whose
// fingerprint is given.
func (t *Tokens) IssueLogin(subject, passwordFingerprint string) (string, time.Time, error) {
	now := t.now().Truncate(time.Second)
	claims := LoginClaims{
		RegisteredClaims:    t.registered(subject, AudienceLogin, randomID(), now, LoginTTL),
		PasswordFingerprint: passwordFingerprint,
	}
	raw, err := t.sign(claims)
	return raw, claims.ExpiresAt.Time, err
}

// IssueJoin signs a join token for the bootstrap token id and roles.
func (t *Tokens) IssueJoin(subject, tokenID string, roles []string, issued time.Time, ttl time.Duration) (string, time.Time, error) {
	issued = issued.Truncate(time.Second)
	claims := JoinClaims{RegisteredClaims: t.registered(subject, AudienceJoin, tokenID, issued, ttl), Roles: roles}
	raw, err := t.sign(claims)
	return raw, claims.ExpiresAt.Time, err
}

func (t *Tokens) registered(subject, audience, id string, now time.Time, ttl time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        id,
	}
}

func (t *Tokens) sign(claims jwt.Claims) (string, error) {
	kid, key, err := t.Keys.Current()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return raw, nil
}

// VerifyLogin checks a login token; the caller compares the password
// fingerprint with the current one.
func (t *Tokens) VerifyLogin(raw string) (*LoginClaims, error) {
	claims := &LoginClaims{}
	if err := t.verify(raw, AudienceLogin, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// VerifyJoin checks a join token.
func (t *Tokens) VerifyJoin(raw string) (*JoinClaims, error) {
	claims := &JoinClaims{}
	if err := t.verify(raw, AudienceJoin, claims); err != nil {
		return nil, err
	}
	if claims.ID == "" || len(claims.Roles) == 0 {
		return nil, &TokenError{Reason: "join token lacks its token id or roles"}
	}
	return claims, nil
}

func (t *Tokens) verify(raw, audience string, claims jwt.Claims) error {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(t.now),
	)
	_, err := parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.Keys.Lookup(kid)
		if !ok {
			return nil, errUnknownKey
		}
		return key, nil
	})
	if err != nil {
		return classify(err, claims, audience)
	}
	if sub, _ := claims.GetSubject(); sub == "" {
		return &TokenError{Reason: "token has no subject"}
	}
	if id := idOf(claims); id == "" {
		return &TokenError{Reason: "token has no id"}
	}
	return nil
}

var errUnknownKey = errors.New("unknown signing key id")

func idOf(c jwt.Claims) string {
	switch v := c.(type) {
	case *LoginClaims:
		return v.ID
	case *JoinClaims:
		return v.ID
	}
	return ""
}

// classify turns a parser error into a reason a client can act on.
func classify(err error, claims jwt.Claims, audience string) error {
	reason := "invalid token"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = "malformed token"
	case errors.Is(err, errUnknownKey):
		reason = "token signed with an unknown key"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = "bad token signature"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		if audience == AudienceJoin {
			reason = "not a join token"
		} else {
			reason = "wrong token audience: join tokens only work on GET /v1/join-bundle"
		}
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = "token expired"
		if exp, _ := claims.GetExpirationTime(); exp != nil {
			reason = "token expired at " + exp.UTC().Format(time.RFC3339)
		}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = "token not valid yet (check the clocks)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = "token from another issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = "token lacks a required claim"
	}
	return &TokenError{Reason: reason, Err: err}
}

// PasswordFingerprint derives a short tag of the password hash. The hash
// is salted bcrypt, so the tag reveals nothing an attacker could search.
func PasswordFingerprint(passwordHash []byte) string {
	sum := sha256.Sum256(append([]byte("ecapi password fingerprint\x00"), passwordHash...))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
