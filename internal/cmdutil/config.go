package cmdutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes every environment variable ecapi reads: --api-port is
// ECAPI_API_PORT.
const EnvPrefix = "ECAPI"

// EnvConfigDir overrides where the config file lives.
const EnvConfigDir = "ECAPI_CONFIG_DIR"

// ConfigFileName is the file inside the config directory.
const ConfigFileName = "config.yaml"

// ConfigDir resolves the config directory: --config-dir, ECAPI_CONFIG_DIR,
// $XDG_CONFIG_HOME/ecapi, ~/.config/ecapi.
func ConfigDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if d := os.Getenv(EnvConfigDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "ecapi")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "ecapi")
	}
	return filepath.Join(".", ".ecapi")
}

// EnvName is the environment variable for a flag name.
func EnvName(flag string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyLayers fills every flag of cmd that was not set on the command line
// from, in order, ECAPI_* environment variables and the config file, so that
// commands read only their Options fields. It uses a local viper instance.
func ApplyLayers(cmd *cobra.Command, configDir string) error {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	path := filepath.Join(configDir, ConfigFileName)
	if _, err := os.Stat(path); err == nil {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("read config file %s: %w", path, err)
		}
	}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" || f.Name == "config-dir" {
			return
		}
		if !v.IsSet(f.Name) {
			return
		}
		value := layerValue(v.Get(f.Name))
		if err := f.Value.Set(value); err != nil {
			firstErr = &FlagError{Err: fmt.Errorf("invalid value %q for %s (from %s or %s): %w", value, f.Name, EnvName(f.Name), path, err)}
			return
		}
		f.Changed = true
	})
	return firstErr
}

// layerValue turns a viper value (string from env, any YAML type from the
// file) into the text form pflag parses.
func layerValue(raw any) string {
	switch t := raw.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, p := range t {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(t, ",")
	default:
		return fmt.Sprint(t)
	}
}
