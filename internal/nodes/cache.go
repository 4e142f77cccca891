package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ecapi/ecapi/internal/ecconfig"
)

// ErrUnavailable means the node list cannot be trusted right now: the cache
// has not synced or the kube-apiserver does not answer.
var ErrUnavailable = errors.New("the Kubernetes API is unavailable")

// The kube-apiserver's /readyz is checked every probeInterval; only
// probeFailures misses in a row mark the node list unavailable, so one slow
// answer from a busy kube-apiserver does not turn /v1/nodes into 503s.
const (
	probeInterval = time.Second
	probeTimeout  = 2 * time.Second
	probeFailures = 3
)

// Cache watches Nodes and keeps the latest Snapshot.
type Cache struct {
	client   kubernetes.Interface
	cfg      *ecconfig.Config
	logger   *slog.Logger
	informer cache.SharedIndexInformer
	lister   listersv1.NodeLister

	snapshot atomic.Pointer[Snapshot]
	healthy  atomic.Bool
	dirty    chan struct{}

	mu      sync.Mutex
	lastErr error
}

// NewCache prepares a node cache; Run starts it.
func NewCache(client kubernetes.Interface, cfg *ecconfig.Config, logger *slog.Logger) *Cache {
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Nodes()
	c := &Cache{
		client: client, cfg: cfg, logger: logger,
		informer: inf.Informer(), lister: inf.Lister(),
		dirty: make(chan struct{}, 1),
	}
	// Keep only what the API shows (and join checks): full Nodes carry
	// images and managedFields, tens of KB each.
	_ = c.informer.SetTransform(trimNode)
	c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.markDirty() },
		UpdateFunc: func(oldObj, newObj any) {
			// Heartbeats update every node every few seconds; re-encode
			// only when what /v1/nodes shows changed.
			if viewChanged(oldObj, newObj, cfg) {
				c.markDirty()
			}
		},
		DeleteFunc: func(any) { c.markDirty() },
	})
	return c
}

// Run watches nodes until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	go c.informer.RunWithContext(ctx)
	go c.probe(ctx)
	c.rebuildLoop(ctx)
}

// WaitForSync waits for the first list of nodes and encodes it, so the
// node list is served from the first request on.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	if !cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
		return false
	}
	if err := c.rebuild(); err != nil {
		c.logger.Error("encode nodes", "err", err)
		return false
	}
	c.setHealthy(true, nil)
	return true
}

// Snapshot returns the current encoded node list, or ErrUnavailable.
func (c *Cache) Snapshot() (*Snapshot, error) {
	s := c.snapshot.Load()
	if s == nil || !c.healthy.Load() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lastErr != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, c.lastErr)
		}
		return nil, fmt.Errorf("%w: the node list has not been read yet", ErrUnavailable)
	}
	return s, nil
}

func (c *Cache) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// rebuildLoop re-encodes the list after changes, coalescing bursts so a
// thousand node updates cost a handful of encodings.
func (c *Cache) rebuildLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirty:
		}
		if !c.informer.HasSynced() {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		if err := c.rebuild(); err != nil {
			c.logger.Error("encode nodes", "err", err)
		}
	}
}

func (c *Cache) rebuild() error {
	list, err := c.lister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes from cache: %w", err)
	}
	snap, err := Encode(list, c.cfg)
	if err != nil {
		return err
	}
	c.snapshot.Store(snap)
	return nil
}

// probe tracks whether the kube-apiserver answers, so that a stale cache is
// not served as if it were current while the API is down.
func (c *Cache) probe(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	misses := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(pctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if misses++; misses >= probeFailures {
				c.setHealthy(false, fmt.Errorf("kube-apiserver /readyz: %w", err))
			}
		case c.informer.HasSynced():
			misses = 0
			c.setHealthy(true, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Cache) setHealthy(ok bool, err error) {
	was := c.healthy.Swap(ok)
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	if was && !ok {
		c.logger.Warn("node list unavailable", "err", err)
	} else if !was && ok {
		c.logger.Debug("node list available")
		c.markDirty()
	}
}

// Healthy reports whether the kube-apiserver answered the last probe.
func (c *Cache) Healthy() bool { return c.healthy.Load() }

// Lister exposes the cached nodes to other services (e.g. joins).
func (c *Cache) Lister() listersv1.NodeLister { return c.lister }

// trimNode drops the parts of a Node ecapi never reads.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	n.ManagedFields = nil
	n.Status.Images = nil
	n.Status.VolumesAttached = nil
	n.Status.VolumesInUse = nil
	return n, nil
}

// viewChanged reports whether an update changes the node's API view.
func viewChanged(oldObj, newObj any, cfg *ecconfig.Config) bool {
	o, ok1 := oldObj.(*corev1.Node)
	n, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	a, b := View(o, cfg), View(n, cfg)
	return a.InternalIP != b.InternalIP || a.Ready != b.Ready ||
		!maps.Equal(a.Labels, b.Labels) || !maps.Equal(a.Annotations, b.Annotations)
}
