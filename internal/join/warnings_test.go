package join

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/internal/testenv"
)

// listedNodes is a NodeSource over a fixed set of Node objects.
type listedNodes struct{ indexer cache.Indexer }

func (n listedNodes) Snapshot() (*nodes.Snapshot, error) { return nil, errors.New("not used here") }
func (n listedNodes) Lister() listersv1.NodeLister       { return listersv1.NewNodeLister(n.indexer) }

type warningCluster struct {
	t      *testing.T
	client *fake.Clientset
	nodes  listedNodes
	svc    *Service
	now    time.Time
}

func newWarningCluster(t *testing.T) *warningCluster {
	t.Helper()
	cfg, err := ecconfig.Parse([]byte(testenv.SampleECConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := &warningCluster{
		t: t, client: fake.NewClientset(),
		nodes: listedNodes{cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})},
		now:   time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC),
	}
	c.svc = &Service{Client: c.client, Roles: cfg, Nodes: c.nodes, Logger: quietLogger()}
	return c
}

// token stores a bootstrap token created age ago; the fake clientset does
// not stamp creation times, so it is set as the kube-apiserver would.
func (c *warningCluster) token(controller bool, age time.Duration, maxUses, uses int) string {
	c.t.Helper()
	created := c.now.Add(-age)
	bt, err := createBootstrapToken(context.Background(), c.client, newToken{
		Roles: []string{"controller"}, Controller: controller, Created: created, TTL: time.Hour, MaxUses: maxUses, Uses: uses,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	obj, err := c.client.Tracker().Get(secretsGVR, bootstrapNamespace, bootstrapPrefix+bt.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	s := obj.(*corev1.Secret)
	s.CreationTimestamp = metav1.NewTime(created)
	if err := c.client.Tracker().Update(secretsGVR, s, bootstrapNamespace); err != nil {
		c.t.Fatal(err)
	}
	return bt.ID
}

// expire moves a token's expiration a minute into the past.
func (c *warningCluster) expire(id string) {
	c.t.Helper()
	obj, err := c.client.Tracker().Get(secretsGVR, bootstrapNamespace, bootstrapPrefix+id)
	if err != nil {
		c.t.Fatal(err)
	}
	s := obj.(*corev1.Secret)
	s.Data["expiration"] = []byte(c.now.Add(-time.Minute).Format(time.RFC3339))
	if err := c.client.Tracker().Update(secretsGVR, s, bootstrapNamespace); err != nil {
		c.t.Fatal(err)
	}
}

func (c *warningCluster) node(name string, labels map[string]string, age time.Duration) {
	c.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(c.now.Add(-age))}}
	if err := c.nodes.indexer.Add(n); err != nil {
		c.t.Fatal(err)
	}
}

func (c *warningCluster) warnings() []string {
	c.t.Helper()
	w, err := c.svc.parallelControllerWarnings(context.Background(), c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

func TestParallelControllerWarning(t *testing.T) {
	c := newWarningCluster(t)
	c.node("controller-0", map[string]string{ecconfig.LabelControlPlane: ""}, 48*time.Hour)
	if w := c.warnings(); len(w) != 0 {
		t.Fatalf("warnings without any token: %v", w)
	}
	id := c.token(true, 10*time.Minute, 0, 0)
	w := c.warnings()
	if len(w) != 1 {
		t.Fatalf("warnings = %v, want one for %s", w, id)
	}
	for _, part := range []string{"another controller join token (" + id + ", created 2026-01-15T11:50:00Z) has not been used yet",
		"joining controllers in parallel risks etcd membership errors", "join one controller at a time or pass allowParallel"} {
		if !strings.Contains(w[0], part) {
			t.Errorf("warning %q lacks %q", w[0], part)
		}
	}
}

func TestParallelControllerWarningIgnores(t *testing.T) {
	for name, setup := range map[string]func(c *warningCluster){
		"used token":         func(c *warningCluster) { c.token(true, time.Minute, 1, 1) },
		"unlimited but used": func(c *warningCluster) { c.token(true, time.Minute, 0, 2) },
		"worker token":       func(c *warningCluster) { c.token(false, time.Minute, 0, 0) },
		"older than 30 min":  func(c *warningCluster) { c.token(true, 31*time.Minute, 0, 0) },
		"expired":            func(c *warningCluster) { c.expire(c.token(true, 10*time.Minute, 0, 0)) },
		"controller joined since": func(c *warningCluster) {
			c.token(true, 10*time.Minute, 0, 0)
			c.node("controller-1", testenv.ControllerLabels("controller"), 2*time.Minute)
		},
		"control-plane node without role labels joined since": func(c *warningCluster) {
			c.token(true, 10*time.Minute, 0, 0)
			c.node("controller-1", map[string]string{ecconfig.LabelControlPlane: "true"}, 2*time.Minute)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newWarningCluster(t)
			setup(c)
			if w := c.warnings(); len(w) != 0 {
				t.Fatalf("warnings = %v, want none", w)
			}
		})
	}
}

func TestParallelControllerWarningDespiteOtherNodes(t *testing.T) {
	c := newWarningCluster(t)
	old := c.token(true, 20*time.Minute, 0, 0)
	recent := c.token(true, 5*time.Minute, 3, 0)
	c.node("controller-0", testenv.ControllerLabels("controller"), 25*time.Minute) // before both tokens
	c.node("db-1", map[string]string{"kots.io/embedded-cluster-role-0": "database"}, time.Minute)
	w := c.warnings()
	if len(w) != 2 || !strings.Contains(w[0], old) || !strings.Contains(w[1], recent) {
		t.Fatalf("warnings = %v, want %s then %s", w, old, recent)
	}
	// A controller that joined between the tokens answers for the older one.
	c.node("controller-1", testenv.ControllerLabels("controller"), 10*time.Minute)
	if w := c.warnings(); len(w) != 1 || !strings.Contains(w[0], recent) {
		t.Fatalf("warnings = %v, want only %s", w, recent)
	}
}
