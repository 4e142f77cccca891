package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ecapi/ecapi/pkg/api"
)

// Health calls GET /v1/health (no authentication).
func (c *Client) Health(ctx context.Context) (*api.HealthResponse, error) {
	var out api.HealthResponse
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: api.PathHealth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Version calls GET /v1/version (no authentication).
func (c *Client) Version(ctx context.Context) (*api.VersionResponse, error) {
	var out api.VersionResponse
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: api.PathVersion}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Nodes calls GET /v1/nodes.
func (c *Client) Nodes(ctx context.Context) (*api.NodesResponse, error) {
	var out api.NodesResponse
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: api.PathNodes, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateJoinCommand calls POST /v1/create-join-command. It is never
// retried: each call creates a new bootstrap token.
func (c *Client) CreateJoinCommand(ctx context.Context, req api.CreateJoinCommandRequest) (*api.CreateJoinCommandResponse, error) {
	var out api.CreateJoinCommandResponse
	if err := c.getJSON(ctx, call{method: http.MethodPost, path: api.PathCreateJoinCommand, body: req, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JoinTokens calls GET /v1/join-tokens (an ecapi extension).
func (c *Client) JoinTokens(ctx context.Context) (*api.JoinTokensResponse, error) {
	var out api.JoinTokensResponse
	if err := c.getJSON(ctx, call{method: http.MethodGet, path: api.PathJoinTokens, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeJoinToken calls DELETE /v1/join-tokens/{id} (an ecapi extension).
func (c *Client) RevokeJoinToken(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("revoke join token: empty id")
	}
	return c.getJSON(ctx, call{method: http.MethodDelete, path: api.PathJoinTokens + "/" + url.PathEscape(id), auth: true}, nil)
}
