// Package serve implements `ecapi serve`, the daemon on controllers. It is
// the only place that wires configuration, services and the HTTP server.
package serve

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/api"
)

// DefaultDataDir is Embedded Cluster's data directory.
const DefaultDataDir = "/var/lib/embedded-cluster"

// ServeOptions holds the flags of `ecapi serve`.
type ServeOptions struct {
	IO *iostreams.IOStreams

	APIPort             int
	BindAddress         string
	AdvertiseAddress    string
	NodeName            string
	Kubeconfig          string
	DataDir             string
	ECConfig            string
	License             string
	PasswordSecret      string
	Namespace           string
	TLSCertFile         string
	TLSKeyFile          string
	MetricsAddress      string
	MetricsInsecureBind bool
	LogFormat           string
	LogLevel            string

	// AdvertiseAddressForce accepts an advertise address that is not one
	// of this host's (NAT, a load balancer in front of the controllers).
	AdvertiseAddressForce bool
}

// NewCmdServe builds the command; runF replaces the run function in tests.
func NewCmdServe(f *cmdutil.Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the external API daemon on this controller",
		Long: `Serve the Embedded Cluster external API over TLS on port 30081, backed by
the Kubernetes API: password login with 24 h JWTs shared by all controllers,
the node list, and join commands and bundles for new hosts.

Every flag can also be set as ECAPI_<FLAG> (e.g. ECAPI_API_PORT) or in the
config file.`,
		Example: `  ecapi serve --data-dir /var/lib/embedded-cluster
  ecapi serve --bind-address 127.0.0.1 --kubeconfig ./admin.conf --tls-cert-file tls.crt --tls-key-file tls.key`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return serveRun(cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.APIPort, "api-port", api.DefaultPort, "TCP port of the API")
	fl.StringVar(&opts.BindAddress, "bind-address", "", "IP address to listen on (default: this node's InternalIP)")
	fl.StringVar(&opts.AdvertiseAddress, "advertise-address", "", "IP address put in join commands (default: the bind address, or this node's InternalIP)")
	fl.BoolVar(&opts.AdvertiseAddressForce, "advertise-address-force", false, "use --advertise-address even when it is not an address of this host (NAT, load balancer)")
	fl.StringVar(&opts.NodeName, "node-name", "", "this node's Kubernetes name, to find its InternalIP (default: hostname)")
	fl.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, then <data-dir>/k0s/pki/admin.conf)")
	fl.StringVar(&opts.DataDir, "data-dir", DefaultDataDir, "Embedded Cluster data directory")
	fl.StringVar(&opts.ECConfig, "ec-config", "", "EC config file (default: <data-dir>/ec-config.yaml; absent: the only role is controller)")
	fl.StringVar(&opts.License, "license", "", "license file (default: <data-dir>/license.yaml)")
	fl.StringVar(&opts.PasswordSecret, "password-secret", "kotsadm/kotsadm-password", "namespace/name of the Secret whose passwordBcrypt key holds the installer password hash")
	fl.StringVar(&opts.Namespace, "namespace", "embedded-cluster", "namespace where ecapi keeps its own state (signing keys)")
	fl.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "PEM certificate to serve (default: a self-signed one kept under <data-dir>/ecapi/)")
	fl.StringVar(&opts.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fl.StringVar(&opts.MetricsAddress, "metrics-address", "", "host:port for Prometheus metrics over plain HTTP (empty: off; loopback only unless --metrics-insecure-bind)")
	fl.BoolVar(&opts.MetricsInsecureBind, "metrics-insecure-bind", false, "allow --metrics-address on a non-loopback address")
	fl.StringVar(&opts.LogFormat, "log-format", "json", "log format: json or text")
	fl.StringVar(&opts.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// complete fills derived defaults and validates flag combinations.
func (o *ServeOptions) complete() error {
	if o.APIPort < 1 || o.APIPort > 65535 {
		return cmdutil.FlagErrorf("--api-port must be between 1 and 65535, got %d", o.APIPort)
	}
	if o.ECConfig == "" {
		o.ECConfig = filepath.Join(o.DataDir, "ec-config.yaml")
	}
	if o.License == "" {
		o.License = filepath.Join(o.DataDir, "license.yaml")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return cmdutil.FlagErrorf("--tls-cert-file and --tls-key-file go together")
	}
	switch o.LogFormat {
	case "json", "text":
	default:
		return cmdutil.FlagErrorf("--log-format must be json or text, got %q", o.LogFormat)
	}
	return nil
}
