// Package license reads the fields of a KOTS license that joins depend on.
package license

import (
	"fmt"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// License is the part of a kots.io/v1beta1 License ecapi uses.
type License struct {
	AppSlug   string
	LicenseID string
	// MultiNode is spec.isEmbeddedClusterMultiNodeEnabled: joins need it.
	MultiNode bool
	// Raw is the file as read, shipped in join bundles.
	Raw []byte
}

type file struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		AppSlug   string `json:"appSlug"`
		LicenseID string `json:"licenseID"`
		MultiNode bool   `json:"isEmbeddedClusterMultiNodeEnabled"`
	} `json:"spec"`
}

// slugPattern keeps the slug safe as a file name and in shell commands.
var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Load reads and validates a license file.
func Load(path string) (*License, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read license %s: %w", path, err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("license %s: %w", path, err)
	}
	return l, nil
}

// Parse decodes and validates a license document.
func Parse(data []byte) (*License, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if f.APIVersion != "kots.io/v1beta1" || f.Kind != "License" {
		return nil, fmt.Errorf("not a kots.io/v1beta1 License (apiVersion %q, kind %q)", f.APIVersion, f.Kind)
	}
	if !slugPattern.MatchString(f.Spec.AppSlug) {
		return nil, fmt.Errorf("spec.appSlug %q is not a valid app slug (lower-case letters, digits and '-')", f.Spec.AppSlug)
	}
	return &License{AppSlug: f.Spec.AppSlug, LicenseID: f.Spec.LicenseID, MultiNode: f.Spec.MultiNode, Raw: data}, nil
}
