package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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

// probeInterval is how often the kube-apiserver's /readyz is checked.
const probeInterval = time.Second

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
	c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.markDirty() },
		UpdateFunc: func(any, any) { c.markDirty() },
		DeleteFunc: func(any) { c.markDirty() },
	})
	_ = c.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		c.setHealthy(false, fmt.Errorf("watch nodes: %w", err))
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
	for {
		pctx, cancel := context.WithTimeout(ctx, probeInterval)
		err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(pctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.setHealthy(false, fmt.Errorf("kube-apiserver /readyz: %w", err))
		} else if c.informer.HasSynced() {
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
