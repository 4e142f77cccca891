package nodes

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/pkg/api"
)

func node(name string, labels map[string]string, ready corev1.ConditionStatus, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}, {Type: corev1.NodeReady, Status: ready}}
	}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "host"}, {Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeInternalIP, Address: "fd00::1"}}
	}
	return n
}

func TestEncode(t *testing.T) {
	cfg, err := ecconfig.Parse([]byte("spec:\n  roles:\n    controller:\n      name: boss\n    custom:\n    - name: web frontend\n"))
	if err != nil {
		t.Fatal(err)
	}
	list := []*corev1.Node{
		node("b", map[string]string{"kots.io/embedded-cluster-role-0": "web-frontend", "kots.io/embedded-cluster-role-1": "boss"}, corev1.ConditionTrue, "10.0.0.2"),
		node("a", map[string]string{"node-role.kubernetes.io/control-plane": ""}, corev1.ConditionUnknown, "10.0.0.1"),
		node("c", nil, "", ""),
	}
	snap, err := Encode(list, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got api.NodesResponse
	if err := json.Unmarshal(snap.JSON, &got); err != nil {
		t.Fatal(err)
	}
	want := []api.Node{
		{Name: "a", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}, Annotations: map[string]string{}, Roles: []string{"boss"}, InternalIP: "10.0.0.1", Ready: false},
		{Name: "b", Labels: list[0].Labels, Annotations: map[string]string{}, Roles: []string{"web frontend", "boss"}, InternalIP: "10.0.0.2", Ready: true},
		{Name: "c", Labels: map[string]string{}, Annotations: map[string]string{}, Roles: []string{}, InternalIP: "", Ready: false},
	}
	for i := range want {
		g, w := got.Nodes[i], want[i]
		if g.Name != w.Name || g.InternalIP != w.InternalIP || g.Ready != w.Ready || !slices.Equal(g.Roles, w.Roles) || len(g.Labels) != len(w.Labels) || g.Annotations == nil || g.Roles == nil {
			t.Errorf("node %d = %+v, want %+v", i, g, w)
		}
	}
	// Empty collections are [] and {}, never null.
	if !bytes.Contains(snap.JSON, []byte(`"name":"c","labels":{},"annotations":{},"roles":[]`)) {
		t.Errorf("empty fields not encoded as {} / []: %s", snap.JSON)
	}
	zr, err := gzip.NewReader(bytes.NewReader(snap.Gzip))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, snap.JSON) {
		t.Error("gzip body differs from JSON body")
	}
	again, _ := Encode([]*corev1.Node{list[2], list[0], list[1]}, cfg)
	if again.ETag != snap.ETag || snap.ETag == snap.ETagGzip {
		t.Errorf("ETags: %s %s %s", snap.ETag, again.ETag, snap.ETagGzip)
	}
	list[0].Labels["x"] = "y"
	changed, _ := Encode(list, cfg)
	if changed.ETag == snap.ETag {
		t.Error("ETag did not change with the content")
	}
	empty, _ := Encode(nil, cfg)
	if string(empty.JSON) != `{"nodes":[]}` {
		t.Errorf("empty list = %s", empty.JSON)
	}
}

func TestViewChangedIgnoresHeartbeats(t *testing.T) {
	cfg := ecconfig.Default()
	old := node("a", map[string]string{"x": "1"}, corev1.ConditionTrue, "10.0.0.1")
	beat := old.DeepCopy()
	beat.Status.Conditions[1].LastHeartbeatTime = metav1.Now()
	beat.Status.Images = []corev1.ContainerImage{{Names: []string{"img"}, SizeBytes: 1}}
	if viewChanged(old, beat, cfg) {
		t.Error("a heartbeat counts as a change")
	}
	for name, mutate := range map[string]func(*corev1.Node){
		"label":      func(n *corev1.Node) { n.Labels["x"] = "2" },
		"annotation": func(n *corev1.Node) { n.Annotations = map[string]string{"a": "b"} },
		"ready":      func(n *corev1.Node) { n.Status.Conditions[1].Status = corev1.ConditionFalse },
		"address":    func(n *corev1.Node) { n.Status.Addresses[1].Address = "10.0.0.9" },
	} {
		changed := old.DeepCopy()
		mutate(changed)
		if !viewChanged(old, changed, cfg) {
			t.Errorf("%s change not seen", name)
		}
	}
	trimmed, _ := trimNode(beat.DeepCopy())
	if n := trimmed.(*corev1.Node); n.Status.Images != nil || n.Name != "a" || len(n.Status.Conditions) != 2 {
		t.Errorf("trimNode = %+v", n.Status)
	}
}
