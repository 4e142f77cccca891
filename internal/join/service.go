package join

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/bundle"
	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/license"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/internal/tlsutil"
	"github.com/ecapi/ecapi/pkg/api"
)

// TokenTTL is the documented lifetime of a join command's token; requests
// may ask for MinTTL to MaxTTL instead (an ecapi extension).
const (
	TokenTTL = time.Hour
	MinTTL   = 5 * time.Minute
	MaxTTL   = 24 * time.Hour
)

// parseTTL reads the optional "ttl" of a create-join-command request.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return TokenTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errorf(Invalid, "invalid ttl %q: use a Go duration such as 30m or 2h", s)
	}
	if d < MinTTL || d > MaxTTL {
		return 0, errorf(Invalid, "ttl %s is out of range: use %s to %s", s, MinTTL, MaxTTL)
	}
	return d, nil
}

// NodeSource reports the cluster's nodes: the API view, and the Node
// objects themselves (for their creation times).
type NodeSource interface {
	Snapshot() (*nodes.Snapshot, error)
	Lister() listersv1.NodeLister
}

// Service creates join commands and authorizes and assembles join bundles.
type Service struct {
	Client    kubernetes.Interface
	Roles     *ecconfig.Config
	License   *license.License
	Nodes     NodeSource
	Tokens    *auth.Tokens
	Seeds     *SeedSigner
	Bundles   *bundle.Store
	Advertise string
	Port      int
	// Pin returns the SPKI pin of the certificate the API serves now.
	Pin    func() string
	Logger *slog.Logger
	Now    func() time.Time
}

// Grant is an authorized bundle download.
type Grant struct {
	Token BootstrapToken
	Roles []ecconfig.Role
	// Issued is when the join token was made: it fixes file names and the
	// bundle's timestamps, so a download can be resumed byte for byte.
	Issued time.Time
	// JoinToken is set when a join token (not a login token) authorized
	// the download: its downloads are counted (CountDownload).
	JoinToken bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ParseRoles validates requested role names against the EC config.
func (s *Service) ParseRoles(names []string) ([]ecconfig.Role, error) {
	if len(names) == 0 {
		return nil, errorf(Invalid, "no roles given: pass one or more of %s", s.validRoles())
	}
	seen := map[string]bool{}
	roles := make([]ecconfig.Role, 0, len(names))
	for _, n := range names {
		if err := ecconfig.ValidateRoleName(n); err != nil {
			return nil, errorf(Invalid, "invalid role: %v; valid roles are %s", err, s.validRoles())
		}
		if seen[n] {
			return nil, errorf(Invalid, "role %q is listed twice", n)
		}
		seen[n] = true
		r, ok := s.Roles.Lookup(n)
		if !ok {
			return nil, errorf(Invalid, "unknown role %q: valid roles are %s", n, s.validRoles())
		}
		roles = append(roles, r)
	}
	return roles, nil
}

func (s *Service) validRoles() string {
	q := make([]string, 0, len(s.Roles.Names()))
	for _, n := range s.Roles.Names() {
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// checkJoinable enforces the license and a Ready controller.
func (s *Service) checkJoinable() error {
	if !s.License.MultiNode {
		return errorf(Forbidden, "the license for %q does not allow multi-node clusters (spec.isEmbeddedClusterMultiNodeEnabled is not true): ask the vendor for a multi-node license", s.License.AppSlug)
	}
	if _, err := s.readyControllers(); err != nil {
		return err
	}
	return nil
}

// readyControllers returns the InternalIPs of Ready controllers.
func (s *Service) readyControllers() ([]string, error) {
	snap, err := s.Nodes.Snapshot()
	if err != nil {
		return nil, wrap(Unavailable, err, "cannot read the node list: %v", err)
	}
	var ips []string
	for _, n := range snap.Nodes {
		if n.Ready && s.isController(n.Labels) {
			ips = append(ips, n.InternalIP)
		}
	}
	if len(ips) == 0 {
		return nil, errorf(NotReady, "no Ready controller yet: poll GET /v1/nodes until a controller reports ready: true, then retry")
	}
	return ips, nil
}

// isController tells controllers by the control-plane label or the EC
// config's controller role.
func (s *Service) isController(labels map[string]string) bool {
	if _, cp := labels[ecconfig.LabelControlPlane]; cp {
		return true
	}
	return slices.Contains(s.Roles.RolesOfNode(labels), s.Roles.Controller().Name)
}

func hasController(roles []ecconfig.Role) bool {
	return slices.ContainsFunc(roles, func(r ecconfig.Role) bool { return r.Controller })
}

func roleNames(roles []ecconfig.Role) []string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
	}
	return names
}

// CreateCommand makes a bootstrap token and join token for roles and
// returns the join steps.
func (s *Service) CreateCommand(ctx context.Context, req api.CreateJoinCommandRequest, clientIP string) (*api.CreateJoinCommandResponse, error) {
	roles, err := s.ParseRoles(req.Roles)
	if err != nil {
		return nil, err
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		return nil, err
	}
	maxUses, err := parseMaxUses(req.MaxUses)
	if err != nil {
		return nil, err
	}
	if err := s.checkJoinable(); err != nil {
		return nil, err
	}
	now := s.now()
	var warnings []string
	if hasController(roles) && !req.AllowParallel {
		// Looked at before this command's own token exists.
		if warnings, err = s.parallelControllerWarnings(ctx, now); err != nil {
			return nil, err
		}
	}
	issued := now.UTC().Truncate(time.Second)
	names := roleNames(roles)
	bt, err := createBootstrapToken(ctx, s.Client, newToken{
		Roles: names, Controller: hasController(roles), CreatorIP: clientIP, Created: issued, TTL: ttl, MaxUses: maxUses,
	})
	if err != nil {
		return nil, wrap(Unavailable, err, "cannot create the bootstrap token (%v): check that the Kubernetes API is up", err)
	}
	jwtToken, expires, err := s.Tokens.IssueJoin("join", bt.ID, names, issued, ttl)
	if err != nil {
		return nil, wrap(Internal, err, "cannot sign the join token: %v", err)
	}
	pin := s.Pin()
	fileName := BundleFileName(s.License.AppSlug, names, issued)
	bundleURL := BundleURL(s.Advertise, s.Port, names)
	s.Logger.Info("join command created", "log", "audit", "roles", names, "tokenID", bt.ID, "client", clientIP, "expires", expires,
		"maxUses", maxUses, "warnings", len(warnings))
	return &api.CreateJoinCommandResponse{
		JoinSteps:          Steps(pin, jwtToken, bundleURL, fileName, s.License.AppSlug),
		TokenID:            bt.ID,
		ExpiresAt:          expires.UTC().Format(time.RFC3339),
		Roles:              names,
		Pin:                pin,
		BundleURL:          bundleURL,
		BundleFileName:     fileName,
		SeedKeyFingerprint: s.Seeds.Fingerprint(),
		Warnings:           warnings,
	}, nil
}

// Authorize checks a bearer token for a bundle download of queryRoles: a
// join token for exactly those roles whose bootstrap token still exists, or
// a login token, for which a fresh bootstrap token is made.
func (s *Service) Authorize(ctx context.Context, raw string, queryRoles []string, loginCheck func(string) error, clientIP string) (*Grant, error) {
	roles, err := s.ParseRoles(queryRoles)
	if err != nil {
		return nil, err
	}
	if err := s.checkJoinable(); err != nil {
		return nil, err
	}
	if audienceOf(raw) == auth.AudienceLogin {
		if err := loginCheck(raw); err != nil {
			return nil, err
		}
		issued := s.now().UTC().Truncate(time.Second)
		// Made for the download at hand, so it counts as used at once.
		bt, err := createBootstrapToken(ctx, s.Client, newToken{
			Roles: roleNames(roles), Controller: hasController(roles), CreatorIP: clientIP, Created: issued, TTL: TokenTTL, Uses: 1,
		})
		if err != nil {
			return nil, wrap(Unavailable, err, "cannot create the bootstrap token (%v): check that the Kubernetes API is up", err)
		}
		s.Logger.Info("join bundle token created", "log", "audit", "roles", roleNames(roles), "tokenID", bt.ID, "client", clientIP)
		return &Grant{Token: bt, Roles: roles, Issued: issued}, nil
	}
	claims, err := s.Tokens.VerifyJoin(raw)
	if err != nil {
		var te *auth.TokenError
		if errors.As(err, &te) {
			return nil, wrap(Unauthorized, err, "%s: run create-join-command again for a new join token", te.Reason)
		}
		return nil, err
	}
	if !slices.Equal(claims.Roles, roleNames(roles)) {
		return nil, errorf(Forbidden, "this join token is for roles %s, not %s: use the download command exactly as returned", strings.Join(claims.Roles, ","), strings.Join(roleNames(roles), ","))
	}
	bt, ok, err := getBootstrapToken(ctx, s.Client, claims.ID)
	if err != nil {
		return nil, wrap(Unavailable, err, "cannot check the bootstrap token (%v): retry shortly", err)
	}
	if !ok {
		return nil, errorf(Unauthorized, "join token revoked: bootstrap token %s no longer exists; run create-join-command again", claims.ID)
	}
	if !bt.Expires.IsZero() && s.now().After(bt.Expires) {
		return nil, errorf(Unauthorized, "join token expired at %s: run create-join-command again", bt.Expires.UTC().Format(time.RFC3339))
	}
	return &Grant{Token: bt, Roles: roles, Issued: claims.IssuedAt.Time.UTC(), JoinToken: true}, nil
}

// audienceOf peeks at a token's audience to pick its verifier; the verifier
// then checks everything, the audience included.
func audienceOf(raw string) string {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &claims); err != nil || len(claims.Audience) != 1 {
		return ""
	}
	return claims.Audience[0]
}

// Open assembles the bundle for a grant.
func (s *Service) Open(ctx context.Context, g *Grant) (*bundle.Bundle, string, error) {
	caPEM, caHash, err := s.clusterCA(ctx)
	if err != nil {
		return nil, "", err
	}
	clusterID, err := s.clusterID(ctx)
	if err != nil {
		return nil, "", err
	}
	controllers, err := s.readyControllers()
	if err != nil {
		return nil, "", err
	}
	k0sToken, err := K0sJoinToken(g.Token, s.Advertise, caPEM)
	if err != nil {
		return nil, "", wrap(Internal, err, "%v", err)
	}
	names := roleNames(g.Roles)
	seed := Seed{
		APIVersion: "ecapi/v1", Kind: "ClusterSeed",
		ClusterID: clusterID, AppSlug: s.License.AppSlug, Roles: names,
		NodeLabels: s.Roles.NodeLabels(g.Roles), ControllerAddresses: controllers,
		CAHash: caHash, APIPin: s.Pin(),
		IssuedAt: g.Issued.Format(time.RFC3339), ExpiresAt: g.Token.Expires.UTC().Format(time.RFC3339),
		TokenID: g.Token.ID,
	}
	doc, sig, err := s.Seeds.Sign(seed)
	if err != nil {
		return nil, "", wrap(Internal, err, "%v", err)
	}
	files := []bundle.File{
		{Name: "license.yaml", Mode: 0o600, Data: s.License.Raw},
		{Name: "k0s-join-token", Mode: 0o600, Data: []byte(k0sToken)},
		{Name: "cluster-seed.json", Mode: 0o644, Data: doc},
		{Name: "cluster-seed.json.sig", Mode: 0o644, Data: sig},
		{Name: "cluster-seed.pub", Mode: 0o644, Data: s.Seeds.PublicKeyPEM()},
	}
	b, err := s.Bundles.Open(ctx, files, g.Issued)
	if errors.Is(err, bundle.ErrMissingBinary) {
		return nil, "", wrap(Internal, err, "the app binary bin/%s is missing from the data dir: reinstall or restore it on this controller", s.License.AppSlug)
	}
	if err != nil {
		return nil, "", wrap(Internal, err, "cannot assemble the join bundle: %v", err)
	}
	return b, BundleFileName(s.License.AppSlug, names, g.Issued), nil
}

func (s *Service) clusterCA(ctx context.Context) ([]byte, string, error) {
	cm, err := s.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		return nil, "", wrap(Unavailable, err, "cannot read the cluster CA (kube-system/kube-root-ca.crt): %v", err)
	}
	caPEM := []byte(cm.Data["ca.crt"])
	cert, err := tlsutil.ParseFirstCertificate(caPEM)
	if err != nil {
		return nil, "", wrap(Internal, err, "kube-system/kube-root-ca.crt holds no valid certificate: %v", err)
	}
	return caPEM, tlsutil.CAHash(cert), nil
}

func (s *Service) clusterID(ctx context.Context) (string, error) {
	ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		return "", wrap(Unavailable, err, "cannot read the cluster id (namespace kube-system): %v", err)
	}
	return string(ns.UID), nil
}

// List returns the outstanding join tokens, oldest first.
func (s *Service) List(ctx context.Context) ([]api.JoinToken, error) {
	tokens, err := listBootstrapTokens(ctx, s.Client)
	if err != nil {
		return nil, wrap(Unavailable, err, "cannot list join tokens: %v", err)
	}
	sortByCreation(tokens)
	out := make([]api.JoinToken, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, api.JoinToken{
			ID: t.ID, Roles: t.Roles, CreatorIP: t.CreatorIP,
			CreatedAt: t.Created.UTC().Format(time.RFC3339), ExpiresAt: t.Expires.UTC().Format(time.RFC3339),
			MaxUses: t.MaxUses, Uses: t.Uses,
		})
	}
	return out, nil
}

// Revoke deletes the bootstrap token behind a join token.
func (s *Service) Revoke(ctx context.Context, id, clientIP string) error {
	if !tokenIDPattern.MatchString(id) {
		return errorf(Invalid, "invalid token id %q: ids are 6 characters [a-z0-9]", id)
	}
	bt, ok, err := getBootstrapToken(ctx, s.Client, id)
	if err != nil {
		return wrap(Unavailable, err, "cannot read join token %s: %v", id, err)
	}
	if !ok {
		return errorf(NotFound, "no join token %s: list them with GET /v1/join-tokens", id)
	}
	if err := s.Client.CoreV1().Secrets(bootstrapNamespace).Delete(ctx, bootstrapPrefix+bt.ID, metav1.DeleteOptions{}); err != nil {
		return wrap(Unavailable, err, "cannot revoke join token %s: %v", id, err)
	}
	s.Logger.Info("join token revoked", "log", "audit", "tokenID", id, "client", clientIP)
	return nil
}
