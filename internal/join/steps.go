package join

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/pkg/api"
)

// Step descriptions, exactly as the API documents them.
const (
	StepDownload = "Download the join bundle"
	StepExtract  = "Extract the bundle"
	StepJoin     = "Run the join command"
)

// BundleFileName is <slug>-join-<role-labels>-<UTC YYYYMMDD-HHMMSS>.tar.gz.
func BundleFileName(slug string, roles []string, issued time.Time) string {
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = ecconfig.LabelValue(r)
	}
	return slug + "-join-" + strings.Join(parts, "-") + "-" + issued.UTC().Format("20060102-150405") + ".tar.gz"
}

// BundleURL is where the bundle for roles is downloaded.
func BundleURL(advertise string, port int, roles []string) string {
	q := make([]string, len(roles))
	for i, r := range roles {
		q[i] = url.QueryEscape(r)
	}
	return "https://" + net.JoinHostPort(advertise, strconv.Itoa(port)) + api.PathJoinBundle + "?roles=" + strings.Join(q, ",")
}

// Steps builds the three documented join steps. The download pins the
// server's key, so -k is safe with the self-signed certificate.
func Steps(pin, joinToken, bundleURL, fileName, slug string) []api.JoinStep {
	args := []string{
		"curl", "-fsS", "-k", "--pinnedpubkey", ShellQuote(pin),
		"-H", ShellQuote("Authorization: Bearer " + joinToken),
	}
	if strings.Contains(bundleURL, "://[") {
		// Older curl reads an IPv6 URL's brackets as a glob pattern.
		args = append(args, "-g")
	}
	args = append(args, ShellQuote(bundleURL), "-o", ShellQuote(fileName))
	download := strings.Join(args, " ")
	return []api.JoinStep{
		{Description: StepDownload, Command: download},
		{Description: StepExtract, Command: "tar xzf " + ShellQuote(fileName)},
		{Description: StepJoin, Command: "sudo ./" + ShellQuote(slug) + " node join"},
	}
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// ShellQuote returns s as one POSIX shell word: unchanged when it holds only
// safe characters, else single-quoted.
func ShellQuote(s string) string {
	if s != "" && shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
