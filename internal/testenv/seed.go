package testenv

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels Embedded Cluster puts on nodes (see the spec's facts file).
const (
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
	LabelRoleTotal    = "kots.io/embedded-cluster-role"
	LabelRolePrefix   = "kots.io/embedded-cluster-role-"
)

// NodeSpec describes a Node to seed.
type NodeSpec struct {
	Name        string
	InternalIP  string
	Ready       bool
	Labels      map[string]string
	Annotations map[string]string
}

// ControllerLabels are the labels EC puts on a controller whose only role
// is roleName.
func ControllerLabels(roleName string) map[string]string {
	return map[string]string{
		LabelControlPlane:     "",
		LabelRoleTotal:        "total-1",
		LabelRolePrefix + "0": roleName,
		"kubernetes.io/os":    "linux",
		"kubernetes.io/arch":  "amd64",
	}
}

// CreateNode creates a Node and sets its status (InternalIP, Ready).
func CreateNode(ctx context.Context, c kubernetes.Interface, spec NodeSpec) (*corev1.Node, error) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: spec.Labels, Annotations: spec.Annotations}}
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create node %s: %w", spec.Name, err)
	}
	created.Status = nodeStatus(spec.InternalIP, spec.Ready)
	updated, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set status of node %s: %w", spec.Name, err)
	}
	return updated, nil
}

// SetNodeReady flips a Node's Ready condition.
func SetNodeReady(ctx context.Context, c kubernetes.Interface, name string, ready bool) error {
	node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	ip := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
		}
	}
	node.Status = nodeStatus(ip, ready)
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of node %s: %w", name, err)
	}
	return nil
}

func nodeStatus(ip string, ready bool) corev1.NodeStatus {
	status := corev1.ConditionFalse
	reason := "KubeletNotReady"
	if ready {
		status, reason = corev1.ConditionTrue, "KubeletReady"
	}
	s := corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: status, Reason: reason,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	if ip != "" {
		s.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	}
	return s
}

// EnsureNamespace creates a namespace unless it exists.
func EnsureNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// EnsureRootCA publishes the cluster CA as kube-system/kube-root-ca.crt,
// which kube-controller-manager would do in a real cluster.
func EnsureRootCA(ctx context.Context, c kubernetes.Interface, caPEM []byte) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "kube-system"},
		Data:       map[string]string{"ca.crt": string(caPEM)},
	}
	_, err := c.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publish kube-root-ca.crt: %w", err)
	}
	return nil
}

// SetPassword stores the installer password's bcrypt hash (cost 10, as EC
// does) in kotsadm/kotsadm-password, creating or replacing it.
func SetPassword(ctx context.Context, c kubernetes.Interface, password string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	if err := EnsureNamespace(ctx, c, "kotsadm"); err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "kotsadm-password", Namespace: "kotsadm"},
		Data:       map[string][]byte{"passwordBcrypt": hash},
	}
	_, err = c.CoreV1().Secrets("kotsadm").Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.CoreV1().Secrets("kotsadm").Update(ctx, secret, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("store password secret: %w", err)
	}
	return nil
}

// SeedCluster does what an EC install leaves behind: the root CA ConfigMap,
// the password Secret, and ecapi's namespace.
func (e *Env) SeedCluster(ctx context.Context, password string) error {
	if err := EnsureRootCA(ctx, e.Client, e.Config.CAData); err != nil {
		return err
	}
	if err := SetPassword(ctx, e.Client, password); err != nil {
		return err
	}
	return EnsureNamespace(ctx, e.Client, "embedded-cluster")
}
