// Package nodes keeps the cluster's nodes in an informer cache and serves
// them as the API's pre-encoded /v1/nodes body.
package nodes

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/pkg/api"
)

// Snapshot is one encoding of the node list, rebuilt when the cache changes.
type Snapshot struct {
	Nodes []api.Node
	// JSON and Gzip are the response body, plain and gzip-compressed.
	JSON []byte
	Gzip []byte
	// ETag is a strong validator of JSON; gzip responses use ETagGzip.
	ETag     string
	ETagGzip string
}

// View converts a Node to its API form.
func View(n *corev1.Node, cfg *ecconfig.Config) api.Node {
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	annotations := n.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	v := api.Node{
		Name:        n.Name,
		Labels:      labels,
		Annotations: annotations,
		Roles:       cfg.RolesOfNode(labels),
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && v.InternalIP == "" {
			v.InternalIP = a.Address
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			v.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return v
}

// Encode builds a snapshot of nodes, sorted by name.
func Encode(list []*corev1.Node, cfg *ecconfig.Config) (*Snapshot, error) {
	views := make([]api.Node, len(list))
	for i, n := range list {
		views[i] = View(n, cfg)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].Name < views[j].Name })
	body, err := json.Marshal(api.NodesResponse{Nodes: views})
	if err != nil {
		return nil, fmt.Errorf("encode nodes: %w", err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("compress nodes: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress nodes: %w", err)
	}
	sum := sha256.Sum256(body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:18])
	return &Snapshot{
		Nodes: views, JSON: body, Gzip: gz.Bytes(),
		ETag: `"` + tag + `"`, ETagGzip: `"` + tag + `-gzip"`,
	}, nil
}
