package ecconfig_test

import (
	"testing"

	"github.com/ecapi/ecapi/internal/ecconfig"
)

// FuzzECConfigParse feeds arbitrary documents to Parse. Whatever it accepts
// must be usable as it is: a controller first, and role names that are
// non-empty, unique, and map to distinct, valid label values.
func FuzzECConfigParse(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzECConfigParse (valid and near-valid documents).
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ecconfig.Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config together with error %v", err)
			}
			return
		}
		roles := c.Roles()
		if len(roles) == 0 || !roles[0].Controller {
			t.Fatalf("accepted config does not start with the controller role: %+v", roles)
		}
		names := map[string]bool{}
		labels := map[string]string{}
		for i, r := range roles {
			if r.Controller != (i == 0) {
				t.Errorf("role %d %q: Controller = %v", i, r.Name, r.Controller)
			}
			if r.Name == "" || ecconfig.ValidateRoleName(r.Name) != nil {
				t.Errorf("accepted invalid role name %q", r.Name)
			}
			if names[r.Name] {
				t.Errorf("accepted duplicate role name %q", r.Name)
			}
			names[r.Name] = true
			lv := ecconfig.LabelValue(r.Name)
			if lv == "" || len(lv) > 63 {
				t.Errorf("role %q has label value %q (%d bytes)", r.Name, lv, len(lv))
			}
			if other, dup := labels[lv]; dup {
				t.Errorf("roles %q and %q share label value %q", other, r.Name, lv)
			}
			labels[lv] = r.Name
			if got, ok := c.Lookup(r.Name); !ok || got.Name != r.Name {
				t.Errorf("Lookup(%q) = %+v, %v", r.Name, got, ok)
			}
			if got, ok := c.ByLabelValue(lv); !ok || got.Name != r.Name {
				t.Errorf("ByLabelValue(%q) = %+v, %v", lv, got, ok)
			}
		}
	})
}
