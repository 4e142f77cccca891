package join

import (
	"strings"
	"testing"
)

func TestStepsIPv6URLTurnsGlobbingOff(t *testing.T) {
	url := BundleURL("fd00::10", 30081, []string{"controller"})
	got := Steps("sha256//AAAA", "h.p.s", url, "demo-join-controller-20260115-120000.tar.gz", "demo")[0].Command
	want := "curl -fsS -k --pinnedpubkey sha256//AAAA -H 'Authorization: Bearer h.p.s' -g 'https://[fd00::10]:30081/v1/join-bundle?roles=controller' -o demo-join-controller-20260115-120000.tar.gz"
	if got != want {
		t.Fatalf("IPv6 download step\n got %s\nwant %s", got, want)
	}
	v4 := Steps("sha256//AAAA", "h.p.s", BundleURL("10.0.0.11", 30081, []string{"controller"}), "f.tar.gz", "demo")[0].Command
	if strings.Contains(v4, " -g ") {
		t.Fatalf("IPv4 download step changed: %s", v4)
	}
}
