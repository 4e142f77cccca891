package ecconfig_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/internal/ecconfig"
)

func TestLabelValue(t *testing.T) {
	cases := []struct{ name, want string }{
		{"controller", "controller"},
		{"web frontend", "web-frontend"},
		{"web   frontend", "web-frontend"},
		{"web\tfrontend\n", "web-frontend"},
		{"a - b", "a---b"},
		{"Mixed.Case_name-9", "Mixed.Case_name-9"},
		{"--x--", "x"},
		{"-x", "x"},
		{"  leading", "leading"},
		{"trailing!!", "trailing"},
		{"a/b:c@d", "a-b-c-d"},
		{"gpu (large)", "gpu-large"},
		{"café", "caf"},
		{"ü-x", "x"},
		{"gpu-ノード", "gpu"},
		{"ノード", ""},
		{"データ ノード 2", "2"},
		{"!!!", ""},
		{"", ""},
		{".dot.", ".dot."},
		{"_under_", "_under_"},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		// Cut to 63 leaves a trailing "-", which is then trimmed.
		{strings.Repeat("a", 62) + " b", strings.Repeat("a", 62)},
		// Leading trim happens before the cut, so the 63 characters are all kept.
		{"   " + strings.Repeat("b", 63), strings.Repeat("b", 63)},
		{strings.Repeat("ab ", 30), strings.Repeat("ab-", 20) + "ab"},
	}
	for _, tc := range cases {
		got := ecconfig.LabelValue(tc.name)
		if got != tc.want {
			t.Errorf("LabelValue(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if len(got) > 63 || strings.HasPrefix(got, "-") || strings.HasSuffix(got, "-") {
			t.Errorf("LabelValue(%q) = %q is not a valid label value", tc.name, got)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name       string
		yaml       string
		wantNames  []string
		wantLabels map[string]map[string]string
	}{
		{
			name:      "no spec.roles",
			yaml:      "apiVersion: embeddedcluster.replicated.com/v1beta1\nkind: Config\nspec:\n  version: 2.1.0\n",
			wantNames: []string{"controller"},
		},
		{
			name:      "empty document",
			yaml:      "",
			wantNames: []string{"controller"},
		},
		{
			name: "custom controller name and roles",
			yaml: `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    controller:
      name: management
      labels:
        management: "true"
    custom:
      - name: app
        labels:
          app: "true"
      - name: db
`,
			wantNames: []string{"management", "app", "db"},
			wantLabels: map[string]map[string]string{
				"management": {"management": "true"},
				"app":        {"app": "true"},
				"db":         nil,
			},
		},
		{
			name: "controller without a name",
			yaml: `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    custom:
      - name: web frontend
`,
			wantNames: []string{"controller", "web frontend"},
		},
		{
			name:      "no apiVersion or kind",
			yaml:      "spec:\n  roles:\n    controller:\n      name: cp\n",
			wantNames: []string{"cp"},
		},
		{
			name:      "other version of the group",
			yaml:      "apiVersion: embeddedcluster.replicated.com/v1\nkind: Config\n",
			wantNames: []string{"controller"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ecconfig.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Names(); !slices.Equal(got, tc.wantNames) {
				t.Fatalf("Names() = %q, want %q", got, tc.wantNames)
			}
			roles := c.Roles()
			for i, r := range roles {
				if r.Controller != (i == 0) {
					t.Errorf("role %d %q: Controller=%v", i, r.Name, r.Controller)
				}
				if want, ok := tc.wantLabels[r.Name]; ok && !maps.Equal(r.Labels, want) {
					t.Errorf("role %q labels %v, want %v", r.Name, r.Labels, want)
				}
				got, ok := c.Lookup(r.Name)
				if !ok || got.Name != r.Name {
					t.Errorf("Lookup(%q) = %v, %v", r.Name, got, ok)
				}
				got, ok = c.ByLabelValue(ecconfig.LabelValue(r.Name))
				if !ok || got.Name != r.Name {
					t.Errorf("ByLabelValue(%q) = %v, %v", ecconfig.LabelValue(r.Name), got, ok)
				}
			}
			if c.Controller().Name != tc.wantNames[0] || !c.Controller().Controller {
				t.Errorf("Controller() = %+v", c.Controller())
			}
			if _, ok := c.Lookup("no-such-role"); ok {
				t.Error("Lookup found an undeclared role")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const header = "apiVersion: embeddedcluster.replicated.com/v1beta1\nkind: Config\n"
	cases := []struct {
		name    string
		yaml    string
		errWant string
	}{
		{"bad apiVersion", "apiVersion: v1\nkind: Config\n", "apiVersion"},
		{"bad apiVersion lookalike", "apiVersion: embeddedcluster.replicated.com.evil/v1\nkind: Config\n", "apiVersion"},
		{"bad kind", "apiVersion: embeddedcluster.replicated.com/v1beta1\nkind: ConfigMap\n", "kind"},
		{"invalid YAML", "spec: [roles\n", "parse YAML"},
		{"YAML list", "- a\n- b\n", "parse YAML"},
		{"roles of the wrong type", header + "spec:\n  roles: []\n", "parse YAML"},
		{"duplicate custom names", header + "spec:\n  roles:\n    custom:\n      - name: app\n      - name: app\n", "declared twice"},
		{"custom named like the controller", header + "spec:\n  roles:\n    custom:\n      - name: controller\n", "declared twice"},
		{"names colliding as label values", header + "spec:\n  roles:\n    custom:\n      - name: web frontend\n      - name: web-frontend\n", "same label value"},
		{"names colliding after trimming", header + "spec:\n  roles:\n    custom:\n      - name: db\n      - name: \"--db!\"\n", "same label value"},
		{"names colliding after the cut", header + "spec:\n  roles:\n    custom:\n      - name: " + strings.Repeat("a", 63) + "x\n      - name: " + strings.Repeat("a", 63) + "y\n", "same label value"},
		{"custom role without a name", header + "spec:\n  roles:\n    custom:\n      - labels:\n          a: b\n", "empty"},
		{"blank name", header + "spec:\n  roles:\n    custom:\n      - name: \"   \"\n", "empty"},
		{"name with no label characters", header + "spec:\n  roles:\n    custom:\n      - name: ノード\n", "no characters usable"},
		{"name with a comma", header + "spec:\n  roles:\n    custom:\n      - name: a,b\n", "comma"},
		{"name too long", header + "spec:\n  roles:\n    custom:\n      - name: " + strings.Repeat("a", ecconfig.MaxRoleNameLength+1) + "\n", "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ecconfig.Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %v", c.Names())
			}
			if !strings.Contains(err.Error(), tc.errWant) {
				t.Errorf("error %q does not mention %q", err, tc.errWant)
			}
		})
	}
}

func TestValidateRoleName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"controller", true},
		{"web frontend", true},
		{strings.Repeat("r", ecconfig.MaxRoleNameLength), true},
		{strings.Repeat("r", ecconfig.MaxRoleNameLength+1), false},
		{"", false},
		{" \t", false},
		{"a,b", false},
		{"a\nb", false},
		{"a\rb", false},
		{"a\x00b", false},
	}
	for _, tc := range cases {
		if err := ecconfig.ValidateRoleName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateRoleName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()

	c, err := ecconfig.Load(filepath.Join(dir, "missing.yaml"))
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if !slices.Equal(c.Names(), ecconfig.Default().Names()) || c.Names()[0] != ecconfig.DefaultControllerRole {
		t.Errorf("missing file gave roles %q, want the default", c.Names())
	}

	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "apiVersion: embeddedcluster.replicated.com/v1beta1\nkind: Config\nspec:\n  roles:\n    custom:\n      - name: app\n")
	c, err = ecconfig.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Names(), []string{"controller", "app"}) {
		t.Errorf("roles %q", c.Names())
	}

	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "kind: Secret\n")
	if _, err := ecconfig.Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: error %v does not name the file", err)
	}

	// A directory is not a missing file: the error must surface.
	if _, err := ecconfig.Load(dir); err == nil {
		t.Error("Load of a directory succeeded")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, yaml string) *ecconfig.Config {
	t.Helper()
	c, err := ecconfig.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const rolesConfig = `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    controller:
      name: management
      labels:
        tier: control
        shared: from-controller
    custom:
      - name: web frontend
        labels:
          tier: web
          web: "true"
      - name: db
        labels:
          shared: from-db
`

func TestRolesOfNode(t *testing.T) {
	c := parse(t, rolesConfig)
	role := func(i int) string { return ecconfig.LabelRolePrefix + string(rune('0'+i)) }
	cases := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"no labels", nil, []string{}},
		{"worker without role labels", map[string]string{"kubernetes.io/os": "linux"}, []string{}},
		{"control plane without role labels", map[string]string{ecconfig.LabelControlPlane: ""}, []string{"management"}},
		{"one role", map[string]string{role(0): "management", ecconfig.LabelRoleTotal: "total-1"}, []string{"management"}},
		{"label value mapped back to the name", map[string]string{role(0): "web-frontend"}, []string{"web frontend"}},
		{"index order, not map order", map[string]string{role(2): "management", role(0): "db", role(1): "web-frontend"}, []string{"db", "web frontend", "management"}},
		{"unknown label value passed through", map[string]string{role(0): "db", role(1): "legacy-role"}, []string{"db", "legacy-role"}},
		{"gap stops reading", map[string]string{role(0): "db", role(2): "management"}, []string{"db"}},
		{"no index 0", map[string]string{role(1): "db"}, []string{}},
		{"no index 0 on a control plane", map[string]string{role(1): "db", ecconfig.LabelControlPlane: ""}, []string{"management"}},
		{"role labels win over control-plane", map[string]string{role(0): "db", ecconfig.LabelControlPlane: ""}, []string{"db"}},
		{"total label alone is ignored", map[string]string{ecconfig.LabelRoleTotal: "total-2"}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.RolesOfNode(tc.labels)
			if got == nil {
				t.Fatal("RolesOfNode returned nil; the API needs [] not null")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("RolesOfNode = %q, want %q", got, tc.want)
			}
		})
	}

	// With the default config, a control-plane node is a "controller".
	if got := ecconfig.Default().RolesOfNode(map[string]string{ecconfig.LabelControlPlane: ""}); !slices.Equal(got, []string{"controller"}) {
		t.Errorf("default config: %q", got)
	}
}

func TestNodeLabels(t *testing.T) {
	c := parse(t, rolesConfig)
	get := func(name string) ecconfig.Role {
		r, ok := c.Lookup(name)
		if !ok {
			t.Fatalf("no role %q", name)
		}
		return r
	}
	cases := []struct {
		name  string
		roles []string
		want  map[string]string
	}{
		{"controller only", []string{"management"}, map[string]string{
			"tier": "control", "shared": "from-controller",
			ecconfig.LabelRoleTotal: "total-1", ecconfig.LabelRolePrefix + "0": "management",
		}},
		{"later role wins", []string{"management", "web frontend", "db"}, map[string]string{
			"tier": "web", "shared": "from-db", "web": "true",
			ecconfig.LabelRoleTotal:        "total-3",
			ecconfig.LabelRolePrefix + "0": "management",
			ecconfig.LabelRolePrefix + "1": "web-frontend",
			ecconfig.LabelRolePrefix + "2": "db",
		}},
		{"order reversed", []string{"db", "web frontend", "management"}, map[string]string{
			"tier": "control", "shared": "from-controller", "web": "true",
			ecconfig.LabelRoleTotal:        "total-3",
			ecconfig.LabelRolePrefix + "0": "db",
			ecconfig.LabelRolePrefix + "1": "web-frontend",
			ecconfig.LabelRolePrefix + "2": "management",
		}},
		{"role without labels", []string{"db"}, map[string]string{
			"shared": "from-db", ecconfig.LabelRoleTotal: "total-1", ecconfig.LabelRolePrefix + "0": "db",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			roles := make([]ecconfig.Role, len(tc.roles))
			for i, n := range tc.roles {
				roles[i] = get(n)
			}
			got := c.NodeLabels(roles)
			if !maps.Equal(got, tc.want) {
				t.Errorf("NodeLabels = %v\nwant %v", got, tc.want)
			}
			// The labels read back as the same roles, in order.
			if back := c.RolesOfNode(got); !slices.Equal(back, tc.roles) {
				t.Errorf("RolesOfNode(NodeLabels) = %q, want %q", back, tc.roles)
			}
		})
	}
	// NodeLabels must not write into the config's own label maps.
	c.NodeLabels([]ecconfig.Role{get("management"), get("db")})
	if got := get("management").Labels["shared"]; got != "from-controller" {
		t.Errorf("controller labels were modified: shared=%q", got)
	}
}
