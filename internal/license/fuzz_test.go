package license_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/ecapi/ecapi/internal/license"
)

// slugRule restates the documented slug rule independently of the code
// under test: a DNS label, so it is safe as a file name and in shell.
var slugRule = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// FuzzLicenseParse feeds arbitrary documents to Parse: whatever it accepts
// has a slug obeying the rule, and keeps the raw bytes it was given.
func FuzzLicenseParse(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzLicenseParse (valid and near-valid documents).
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := license.Parse(data)
		if err != nil {
			if l != nil {
				t.Fatalf("Parse returned a license together with error %v", err)
			}
			return
		}
		if len(l.AppSlug) > 63 || !slugRule.MatchString(l.AppSlug) {
			t.Errorf("accepted app slug %q breaks the slug rule", l.AppSlug)
		}
		if !bytes.Equal(l.Raw, data) {
			t.Errorf("Raw differs from the input")
		}
	})
}
