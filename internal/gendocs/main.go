// Command gendocs writes the generated artefacts that are committed and
// packaged: the shell completion scripts under completions/ and the man
// pages under man/, all from the command tree of internal/cli, so they
// cannot describe flags the binary does not have.
//
//	go run ./internal/gendocs            # into the repository root
//	go run ./internal/gendocs -out DIR   # elsewhere (scripts/check-generated.sh)
//
// The output depends on the code only (no dates, hostnames or
// environment), so regenerating an unchanged tree changes no file.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/ecapi/ecapi/internal/cli"
	"github.com/ecapi/ecapi/internal/cmd/completion"
	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/client"
)

// manDate is the date in every man page's footer. It is fixed on purpose:
// a generation date would make every run a diff; bump it with a release
// that changes the pages substantially.
var manDate = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", ".", "directory to write completions/ and man/ into")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func generate(out string) error {
	if err := writeCompletions(filepath.Join(out, "completions")); err != nil {
		return err
	}
	return writeManPages(filepath.Join(out, "man"))
}

// newRoot builds the command tree on quiet streams; nothing is executed.
func newRoot() *cobra.Command {
	ios, _, _, _ := iostreams.Test()
	return cli.NewCmdRoot(&cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{}, Executable: "ecapi"})
}

func writeCompletions(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, sh := range completion.Shells {
		var buf bytes.Buffer
		if err := completion.Generate(newRoot(), sh.Name, &buf); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, sh.File), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeManPages writes man/ecapi.1 and one ecapi-<verb>.1 per verb,
// removing pages of verbs that no longer exist.
func writeManPages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	stale, err := filepath.Glob(filepath.Join(dir, "ecapi*.1"))
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	root := newRoot()
	exitStatus, err := exitStatusSection(root)
	if err != nil {
		return err
	}
	var cmds []*cobra.Command
	var walk func(*cobra.Command)
	escaped := map[*pflag.Flag]bool{}
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true // its "Auto generated … on <today>" line would change daily
		escapeMarkdown(c, escaped)
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
	}
	walk(root)
	for _, c := range cmds {
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		header := &doc.GenManHeader{
			Title:   strings.ToUpper(name),
			Section: "1",
			Date:    &manDate,
			Source:  "ecapi",
			Manual:  "ecapi manual",
		}
		var buf bytes.Buffer
		if err := doc.GenMan(c, header, &buf); err != nil {
			return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
		}
		page := buf.String()
		if c == root {
			page, err = insertBeforeSeeAlso(page, environmentSection+filesSection+exitStatus)
			if err != nil {
				return err
			}
		}
		if err := writeFile(filepath.Join(dir, name+".1"), []byte(page)); err != nil {
			return err
		}
	}
	return nil
}

// escapeMarkdown prepares c's texts for cobra/doc, which renders them as
// Markdown: "<data-dir>" would be taken for an HTML tag and vanish. Flags
// are shared between a parent and its children, so each is escaped once.
// Examples are left alone: they are rendered as code, verbatim.
func escapeMarkdown(c *cobra.Command, done map[*pflag.Flag]bool) {
	esc := strings.NewReplacer(`\`, `\\`, "<", `\<`, ">", `\>`)
	c.Short = esc.Replace(c.Short)
	c.Long = esc.Replace(c.Long)
	for _, fs := range []*pflag.FlagSet{c.NonInheritedFlags(), c.InheritedFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if !done[f] {
				f.Usage = esc.Replace(f.Usage)
				done[f] = true
			}
		})
	}
}

func insertBeforeSeeAlso(page, sections string) (string, error) {
	const seeAlso = ".SH SEE ALSO"
	if !strings.Contains(page, seeAlso) {
		return "", errors.New("man page of ecapi has no SEE ALSO section to insert before")
	}
	return strings.Replace(page, seeAlso, sections+seeAlso, 1), nil
}

// exitStatusSection renders the exit codes `ecapi --help` documents (the
// root's usage template ends with them), so the two cannot disagree.
func exitStatusSection(root *cobra.Command) (string, error) {
	const marker = "Exit codes:\n"
	tmpl := root.UsageTemplate()
	i := strings.Index(tmpl, marker)
	if i < 0 {
		return "", errors.New("`ecapi --help` no longer lists the exit codes (\"Exit codes:\" in the root's usage template)")
	}
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	n := 0
	for _, line := range strings.Split(tmpl[i+len(marker):], "\n") {
		code, text, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if !ok || code == "" {
			break
		}
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roff(code), roff(strings.TrimSpace(text)))
		n++
	}
	if n == 0 {
		return "", errors.New("no exit codes found after \"Exit codes:\" in the root's usage template")
	}
	return b.String(), nil
}

var environmentSection = ".SH ENVIRONMENT\n" + definitions([][2]string{
	{client.EnvServer, "API server URL, as --server."},
	{client.EnvToken, "Bearer token to use instead of the saved login's."},
	{client.EnvPassword, "Installer password: client verbs log in (and renew an expired token) by themselves. Preferred over --password, which is visible in the process list."},
	{client.EnvPin, "Public key pin of the server (sha256//<base64>), as --pin."},
	{client.EnvCAFile, "PEM file of CA certificates to trust, as --ca-file."},
	{cmdutil.EnvConfigDir, "Directory of config.yaml and the saved login, as --config-dir."},
	{"ECAPI_<FLAG>", "Any other flag, upper-cased with dashes as underscores: ECAPI_API_PORT=30081 is --api-port 30081. Precedence: flag, then environment, then config file, then default."},
	{"NO_COLOR", "Disables colour on a terminal."},
})

var filesSection = ".SH FILES\n" + definitions([][2]string{
	{"$XDG_CONFIG_HOME/ecapi/config.yaml", "Config file (any flag by its long name) and the saved login of ecapi login: server, pin, ca-file, token. Written 0600. Default $XDG_CONFIG_HOME is ~/.config."},
	{"/etc/default/ecapi", "Environment file of the ecapi systemd service (ECAPI_* variables for ecapi serve)."},
	{"/var/lib/embedded-cluster", "Embedded Cluster data directory read by ecapi serve: ec-config.yaml, license.yaml, bin/, charts/, images/, k0s/pki/admin.conf."},
	{"/var/lib/embedded-cluster/ecapi", "What ecapi serve writes: its self-signed certificate and key (0600) and the join bundle cache."},
})

func definitions(items [][2]string) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roff(it[0]), roff(it[1]))
	}
	return b.String()
}

// roff escapes text for a roff line: backslashes, minus signs (so that
// options are not hyphenated or shown as dashes) and a leading control
// character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
