// Package api holds the wire types of the ecapi HTTP API, shared by the
// server and the client SDK. Field names follow the External API document.
package api

// DefaultPort is the API's TCP port when --api-port is not given.
const DefaultPort = 30081

// Paths of the documented endpoints.
const (
	PathHealth            = "/v1/health"
	PathVersion           = "/v1/version"
	PathAuthToken         = "/v1/auth/token"
	PathNodes             = "/v1/nodes"
	PathCreateJoinCommand = "/v1/create-join-command"
	PathJoinBundle        = "/v1/join-bundle"
	// PathJoinTokens is an ecapi extension: list (GET) and revoke
	// (DELETE PathJoinTokens + "/{id}") outstanding join tokens.
	PathJoinTokens = "/v1/join-tokens"
)

// HealthResponse is the body of GET /v1/health.
type HealthResponse struct {
	Status string `json:"status"`
}

// VersionResponse is the body of GET /v1/version.
type VersionResponse struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"buildDate"`
}

// TokenRequest is the body of POST /v1/auth/token.
type TokenRequest struct {
	Password string `json:"password"`
}

// TokenResponse is the reply of POST /v1/auth/token.
type TokenResponse struct {
	Token string `json:"token"`
}

// Node is one entry of GET /v1/nodes.
type Node struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Roles       []string          `json:"roles"`
	InternalIP  string            `json:"internalIP"`
	Ready       bool              `json:"ready"`
}

// NodesResponse is the body of GET /v1/nodes.
type NodesResponse struct {
	Nodes []Node `json:"nodes"`
}

// CreateJoinCommandRequest is the body of POST /v1/create-join-command.
type CreateJoinCommandRequest struct {
	Roles []string `json:"roles"`

	// TTL, MaxUses and AllowParallel are ecapi extensions, omitted when
	// unset so that a request without them is exactly the documented one.
	// TTL is a Go duration ("30m"); MaxUses 0 means the server's default.
	TTL           string `json:"ttl,omitempty"`
	MaxUses       int    `json:"maxUses,omitempty"`
	AllowParallel bool   `json:"allowParallel,omitempty"`
}

// JoinStep is one shell step a joining host runs.
type JoinStep struct {
	Description string `json:"description"`
	Command     string `json:"command"`
}

// CreateJoinCommandResponse is the reply of POST /v1/create-join-command.
// JoinSteps is the documented contract; the other fields are ecapi
// additions and are omitted when empty.
type CreateJoinCommandResponse struct {
	JoinSteps []JoinStep `json:"joinSteps"`

	TokenID        string   `json:"tokenID,omitempty"`
	ExpiresAt      string   `json:"expiresAt,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	Pin            string   `json:"pin,omitempty"`
	BundleURL      string   `json:"bundleURL,omitempty"`
	BundleFileName string   `json:"bundleFileName,omitempty"`
	// SeedKeyFingerprint identifies the Ed25519 key that signs cluster seeds.
	SeedKeyFingerprint string   `json:"seedKeyFingerprint,omitempty"`
	Warnings           []string `json:"warnings,omitempty"`
}

// JoinToken describes an outstanding join token (ecapi extension).
type JoinToken struct {
	ID        string   `json:"id"`
	Roles     []string `json:"roles"`
	CreatedAt string   `json:"createdAt"`
	ExpiresAt string   `json:"expiresAt"`
	CreatorIP string   `json:"creatorIP,omitempty"`
	// MaxUses limits the bundle downloads (omitted: unlimited); Uses
	// counts those made so far.
	MaxUses int `json:"maxUses,omitempty"`
	Uses    int `json:"uses"`
}

// JoinTokensResponse is the body of GET /v1/join-tokens.
type JoinTokensResponse struct {
	Tokens []JoinToken `json:"tokens"`
}
