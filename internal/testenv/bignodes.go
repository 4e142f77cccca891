package testenv

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RealisticNode returns Node i of a large cluster, about 12 KB as JSON
// (more once the apiserver adds managedFields) like a kubelet-reported Node:
// a dozen labels and annotations, the usual conditions, capacity and
// allocatable, nodeInfo, 20 images and a few attached volumes. Node 0 is a
// controller, the rest are workers; all are Ready.
func RealisticNode(i int) *corev1.Node {
	name := fmt.Sprintf("node-%04d", i)
	ip := fmt.Sprintf("10.%d.%d.%d", 10+i/65536, (i/256)%256, i%256)
	role := "worker"
	labels := map[string]string{
		LabelRoleTotal:                     "total-1",
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"kubernetes.io/hostname":           name,
		"beta.kubernetes.io/os":            "linux",
		"beta.kubernetes.io/arch":          "amd64",
		"node.k0sproject.io/role":          "worker",
		"topology.kubernetes.io/region":    "us-east-1",
		"topology.kubernetes.io/zone":      fmt.Sprintf("us-east-1%c", 'a'+rune(i%3)),
		"node.kubernetes.io/instance-type": "m5.xlarge",
		"example.com/rack":                 fmt.Sprintf("rack-%02d", i%40),
	}
	if i == 0 {
		role = "controller"
		labels[LabelControlPlane] = ""
		labels["node.k0sproject.io/role"] = "control-plane"
	}
	labels[LabelRolePrefix+"0"] = role
	annotations := map[string]string{
		"node.alpha.kubernetes.io/ttl":                           "0",
		"volumes.kubernetes.io/controller-managed-attach-detach": "true",
		"kubeadm.alpha.kubernetes.io/cri-socket":                 "unix:///run/k0s/containerd.sock",
		"projectcalico.org/IPv4Address":                          ip + "/16",
		"projectcalico.org/IPv4VXLANTunnelAddr":                  fmt.Sprintf("10.244.%d.%d", (i/256)%256, i%256),
		"csi.volume.kubernetes.io/nodeid":                        fmt.Sprintf(`{"openebs.io/local":%q}`, name),
		"k0sproject.io/node-ip":                                  ip,
		"k0sproject.io/version":                                  "v1.31.5+k0s.0",
		"embedded-cluster.replicated.com/joined-at":              "2025-01-15T10:00:00Z",
		"example.com/owner":                                      "platform-team",
		"example.com/cost-center":                                fmt.Sprintf("cc-%04d", i%100),
		"example.com/description":                                "worker pool node provisioned by the fleet automation for the demo app",
		"example.com/provisioning": fmt.Sprintf(`{"pool":"general-purpose","template":"lt-%012x","ami":"ami-0abcdef1234567890",`+
			`"subnet":"subnet-%08x","securityGroups":["sg-0123456789abcdef0","sg-0fedcba9876543210"],"launchedBy":"fleet-controller"}`, i, i),
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("16178172Ki"),
		corev1.ResourceEphemeralStorage: resource.MustParse("101430960Ki"),
		corev1.ResourcePods:             resource.MustParse("110"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	alloc := res.DeepCopy()
	alloc[corev1.ResourceMemory] = resource.MustParse("15973372Ki")
	alloc[corev1.ResourceEphemeralStorage] = resource.MustParse("93478772582")
	images := make([]corev1.ContainerImage, 20)
	for j := range images {
		repo := fmt.Sprintf("proxy.replicated.com/anonymous/registry.example.com/demo/component-%02d", j)
		images[j] = corev1.ContainerImage{
			Names: []string{
				fmt.Sprintf("%s@sha256:%064x", repo, uint64(j)*0x9E3779B97F4A7C15+uint64(i)),
				fmt.Sprintf("%s:1.%d.%d", repo, j, i%10),
				fmt.Sprintf("registry.example.com/demo/component-%02d@sha256:%064x", j, uint64(j+1)*0xBF58476D1CE4E5B9+uint64(i)),
			},
			SizeBytes: int64(10_000_000 + j*3_456_789),
		}
	}
	var volumes []corev1.AttachedVolume
	var inUse []corev1.UniqueVolumeName
	for j := range 4 {
		v := corev1.UniqueVolumeName(fmt.Sprintf("kubernetes.io/csi/ebs.csi.aws.com^vol-%017x", i*4+j))
		inUse = append(inUse, v)
		volumes = append(volumes, corev1.AttachedVolume{Name: v, DevicePath: fmt.Sprintf("/dev/nvme%dn1", j+1)})
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec:       corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.244.%d.0/24", i%256), ProviderID: "aws:///us-east-1a/i-" + fmt.Sprintf("%017x", i)},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: alloc,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "CalicoIsUp", "Calico is running on this node"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: ip},
				{Type: corev1.NodeHostName, Address: name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               fmt.Sprintf("%032x", i+1),
				SystemUUID:              fmt.Sprintf("ec2%05x-0000-0000-0000-%012x", i, i),
				BootID:                  fmt.Sprintf("%08x-1111-2222-3333-%012x", i, i),
				KernelVersion:           "6.8.0-1021-aws",
				OSImage:                 "Ubuntu 24.04.1 LTS",
				ContainerRuntimeVersion: "containerd://1.7.24",
				KubeletVersion:          "v1.31.5+k0s",
				KubeProxyVersion:        "v1.31.5+k0s",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
			Images:          images,
			VolumesInUse:    inUse,
			VolumesAttached: volumes,
		},
	}
}

// CreateRealisticNodes creates RealisticNode(0..n-1) with their status,
// eight at a time, and returns the first error.
func CreateRealisticNodes(ctx context.Context, c kubernetes.Interface, n int) error {
	const workers = 8
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := createWithStatus(ctx, c, RealisticNode(i)); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("create realistic nodes: %w", ctx.Err())
	}
	return firstErr
}

// createWithStatus creates node then writes its status, which Create drops.
func createWithStatus(ctx context.Context, c kubernetes.Interface, node *corev1.Node) error {
	status := node.Status
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", node.Name, err)
	}
	created.Status = status
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of node %s: %w", node.Name, err)
	}
	return nil
}
