package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// Token is a bearer token and the time it expires.
type Token struct {
	Token string
	// ExpiresAt is the token's exp claim; zero when it has none.
	ExpiresAt time.Time
}

// Login exchanges the installer password for a token, which the client
// sends from then on. A wrong password is an *api.Error with status 401.
func (c *Client) Login(ctx context.Context, password string) (Token, error) {
	var resp api.TokenResponse
	err := c.getJSON(ctx, call{method: http.MethodPost, path: api.PathAuthToken, body: api.TokenRequest{Password: password}}, &resp)
	if err != nil {
		return Token{}, err
	}
	if resp.Token == "" {
		return Token{}, errors.New("login: the server returned an empty token")
	}
	t := Token{Token: resp.Token, ExpiresAt: TokenExpiry(resp.Token)}
	c.SetToken(t.Token)
	return t, nil
}

// ensureToken logs in with the configured password when there is no token
// or it is about to expire. Without a password the call goes out as it is
// and the server's 401 tells the caller to log in.
func (c *Client) ensureToken(ctx context.Context) error {
	if c.cfg.Password == "" {
		return nil
	}
	tok := c.Token()
	if tok != "" {
		exp := TokenExpiry(tok)
		if exp.IsZero() || time.Until(exp) > tokenRenewMargin {
			return nil
		}
	}
	return c.relogin(ctx, tok)
}

// relogin replaces the token stale by a fresh one from the configured
// password. Calls that raced on the same stale token share one login.
func (c *Client) relogin(ctx context.Context, stale string) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if cur := c.Token(); cur != "" && cur != stale {
		return nil
	}
	t, err := c.Login(ctx, c.cfg.Password)
	if err != nil {
		return err
	}
	if c.cfg.OnTokenRefresh != nil {
		c.cfg.OnTokenRefresh(t)
	}
	return nil
}

// TokenExpiry reads the exp claim of a JWT without verifying it: the
// client only uses it to renew in time and to tell the user. It returns
// the zero time when the token is not a JWT or has no exp.
func TokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == "" {
		return time.Time{}
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0).UTC()
}
