package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// Keys of the saved login in config.yaml. server, pin and ca-file are also
// the names of the global flags, so the config layering reads them back on
// every run; token is read only by ClientConfig.
const (
	keyServer = "server"
	keyPin    = "pin"
	keyCAFile = "ca-file"
	keyToken  = "token"
)

// SavedLogin is what `ecapi login` remembers in config.yaml.
type SavedLogin struct {
	Server string
	Pin    string
	CAFile string
	Token  string
}

// ConfigFilePath is the config file inside dir.
func ConfigFilePath(dir string) string { return filepath.Join(dir, ConfigFileName) }

// LoadSavedLogin reads the saved login from dir; a missing file is an
// empty login, not an error.
func LoadSavedLogin(dir string) (SavedLogin, error) {
	doc, err := readConfigDoc(dir)
	if err != nil {
		return SavedLogin{}, err
	}
	str := func(key string) string {
		s, _ := doc[key].(string)
		return s
	}
	return SavedLogin{Server: str(keyServer), Pin: str(keyPin), CAFile: str(keyCAFile), Token: str(keyToken)}, nil
}

// SaveLogin writes l into dir's config.yaml, keeping the file's other
// keys: directory 0700, file 0600, replaced atomically so that a crash
// leaves the old file or the new one, never half of one. It returns the
// file's path.
func SaveLogin(dir string, l SavedLogin) (string, error) {
	doc, err := readConfigDoc(dir)
	if err != nil {
		return "", err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	for key, value := range map[string]string{keyServer: l.Server, keyPin: l.Pin, keyCAFile: l.CAFile, keyToken: l.Token} {
		if value == "" {
			delete(doc, key)
		} else {
			doc[key] = value
		}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	path := ConfigFilePath(dir)
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	return path, nil
}

func readConfigDoc(dir string) (map[string]any, error) {
	path := ConfigFilePath(dir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	return doc, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory (created 0700 if missing), synced and renamed over path.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes a rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
