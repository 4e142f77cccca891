package join

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Ports a joining node talks to: kubelets bootstrap against the
// kube-apiserver, controllers against k0s's join API.
const (
	workerAPIPort     = 6443
	controllerAPIPort = 9443
)

// K0sJoinToken encodes a join token as k0s does: base64(gzip(kubeconfig))
// with one cluster, one user and one context.
func K0sJoinToken(t BootstrapToken, advertise string, caPEM []byte) (string, error) {
	port, user := workerAPIPort, "kubelet-bootstrap"
	if t.Controller {
		port, user = controllerAPIPort, "controller-bootstrap"
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k0s"] = &clientcmdapi.Cluster{
		Server:                   "https://" + net.JoinHostPort(advertise, strconv.Itoa(port)),
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: t.Value()}
	cfg.Contexts["k0s"] = &clientcmdapi.Context{Cluster: "k0s", AuthInfo: user}
	cfg.CurrentContext = "k0s"
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		return "", fmt.Errorf("encode join kubeconfig: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(kubeconfig); err != nil {
		return "", fmt.Errorf("compress join kubeconfig: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress join kubeconfig: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
