package testenv

import (
	"encoding/json"
	"testing"
)

// TestRealisticNodeSize keeps RealisticNode near the ~12 KB of a
// kubelet-reported Node, which benchmarks rely on.
func TestRealisticNodeSize(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 999} {
		n := RealisticNode(i)
		data, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 11<<10 || len(data) > 13<<10 {
			t.Errorf("node %d is %d bytes as JSON, want about 12 KB", i, len(data))
		}
		if seen[n.Name] {
			t.Errorf("duplicate name %s", n.Name)
		}
		seen[n.Name] = true
		if len(n.Status.Images) != 20 || len(n.Labels) < 12 || len(n.Annotations) < 12 {
			t.Errorf("node %d: %d images, %d labels, %d annotations", i, len(n.Status.Images), len(n.Labels), len(n.Annotations))
		}
	}
	if _, ok := RealisticNode(0).Labels[LabelControlPlane]; !ok {
		t.Error("node 0 is not a controller")
	}
}
