// Package ecconfig reads the roles of an Embedded Cluster config and maps
// role names to and from the node labels EC puts on joined nodes.
package ecconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// DefaultControllerRole is the controller role's name when the config names none.
const DefaultControllerRole = "controller"

// MaxRoleNameLength bounds role names accepted in requests and configs.
const MaxRoleNameLength = 253

// Label keys EC puts on joined nodes.
const (
	LabelRoleTotal    = "kots.io/embedded-cluster-role"
	LabelRolePrefix   = "kots.io/embedded-cluster-role-"
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
)

// Role is one role a node can be joined with.
type Role struct {
	Name       string
	Labels     map[string]string
	Controller bool
}

// Config holds the roles of an EC config, the controller role first.
type Config struct {
	roles   []Role
	byName  map[string]int
	byLabel map[string]int
}

type file struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Roles *struct {
			Controller struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"controller"`
			Custom []struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"custom"`
		} `json:"roles"`
	} `json:"spec"`
}

// Default is the config of a cluster whose EC config declares no roles.
func Default() *Config {
	c, _ := build([]Role{{Name: DefaultControllerRole, Controller: true}})
	return c
}

// Load reads an EC config file; a missing file means Default().
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read EC config %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("EC config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes an EC config document.
func Parse(data []byte) (*Config, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if f.APIVersion != "" && !strings.HasPrefix(f.APIVersion, "embeddedcluster.replicated.com/") {
		return nil, fmt.Errorf("apiVersion %q is not embeddedcluster.replicated.com/*", f.APIVersion)
	}
	if f.Kind != "" && f.Kind != "Config" {
		return nil, fmt.Errorf("kind %q is not Config", f.Kind)
	}
	if f.Spec.Roles == nil {
		return Default(), nil
	}
	ctrl := f.Spec.Roles.Controller
	if ctrl.Name == "" {
		ctrl.Name = DefaultControllerRole
	}
	roles := []Role{{Name: ctrl.Name, Labels: ctrl.Labels, Controller: true}}
	for _, r := range f.Spec.Roles.Custom {
		roles = append(roles, Role{Name: r.Name, Labels: r.Labels})
	}
	return build(roles)
}

func build(roles []Role) (*Config, error) {
	c := &Config{roles: roles, byName: map[string]int{}, byLabel: map[string]int{}}
	for i, r := range roles {
		if err := ValidateRoleName(r.Name); err != nil {
			return nil, fmt.Errorf("role %d: %w", i, err)
		}
		if _, dup := c.byName[r.Name]; dup {
			return nil, fmt.Errorf("role %q is declared twice", r.Name)
		}
		lv := LabelValue(r.Name)
		if lv == "" {
			return nil, fmt.Errorf("role %q has no characters usable in a label value", r.Name)
		}
		if other, dup := c.byLabel[lv]; dup {
			return nil, fmt.Errorf("roles %q and %q map to the same label value %q", roles[other].Name, r.Name, lv)
		}
		c.byName[r.Name] = i
		c.byLabel[lv] = i
	}
	return c, nil
}

// ValidateRoleName rejects names no EC config could hold.
func ValidateRoleName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("role name is empty")
	case len(name) > MaxRoleNameLength:
		return fmt.Errorf("role name is longer than %d characters", MaxRoleNameLength)
	case strings.ContainsAny(name, ",\x00\n\r"):
		return fmt.Errorf("role name %q contains a comma or control character", name)
	}
	return nil
}

// Roles returns every role, the controller role first.
func (c *Config) Roles() []Role { return c.roles }

// Names returns every role name, the controller role first.
func (c *Config) Names() []string {
	names := make([]string, len(c.roles))
	for i, r := range c.roles {
		names[i] = r.Name
	}
	return names
}

// Controller is the controller role.
func (c *Config) Controller() Role { return c.roles[0] }

// Lookup finds a role by name.
func (c *Config) Lookup(name string) (Role, bool) {
	i, ok := c.byName[name]
	if !ok {
		return Role{}, false
	}
	return c.roles[i], true
}

// ByLabelValue finds the role whose label value is v.
func (c *Config) ByLabelValue(v string) (Role, bool) {
	i, ok := c.byLabel[v]
	if !ok {
		return Role{}, false
	}
	return c.roles[i], true
}

var labelUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// LabelValue turns a role name into a label value as EC does: runs of
// characters outside [a-zA-Z0-9-_.] become "-", leading "-" are trimmed,
// the result is cut to 63 characters and trailing "-" are trimmed.
func LabelValue(name string) string {
	v := labelUnsafe.ReplaceAllString(name, "-")
	v = strings.TrimLeft(v, "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.TrimRight(v, "-")
}

// NodeLabels are the labels a node joined with roles must carry: the union
// of the roles' labels (later roles win) plus the role labels.
func (c *Config) NodeLabels(roles []Role) map[string]string {
	labels := map[string]string{}
	for _, r := range roles {
		for k, v := range r.Labels {
			labels[k] = v
		}
	}
	labels[LabelRoleTotal] = fmt.Sprintf("total-%d", len(roles))
	for i, r := range roles {
		labels[fmt.Sprintf("%s%d", LabelRolePrefix, i)] = LabelValue(r.Name)
	}
	return labels
}

// RolesOfNode reads a node's role names back from its labels, in index
// order; a control-plane node without role labels has the controller role.
func (c *Config) RolesOfNode(labels map[string]string) []string {
	roles := []string{}
	for i := 0; ; i++ {
		v, ok := labels[fmt.Sprintf("%s%d", LabelRolePrefix, i)]
		if !ok {
			break
		}
		if r, known := c.ByLabelValue(v); known {
			roles = append(roles, r.Name)
		} else {
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 {
		if _, cp := labels[LabelControlPlane]; cp {
			roles = append(roles, c.Controller().Name)
		}
	}
	return roles
}
