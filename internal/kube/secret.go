package kube

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// SecretWatch keeps one Secret in memory through a list+watch restricted to
// its name, so readers never call the API and see changes within a moment.
type SecretWatch struct {
	informer cache.SharedIndexInformer
	current  atomic.Pointer[corev1.Secret]
}

// WatchSecret starts watching namespace/name until ctx ends.
func WatchSecret(ctx context.Context, client kubernetes.Interface, namespace, name string) *SecretWatch {
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "secrets", namespace,
		fields.OneTermEqualSelector("metadata.name", name))
	w := &SecretWatch{informer: cache.NewSharedIndexInformer(lw, &corev1.Secret{}, 0, cache.Indexers{})}
	set := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok {
			w.current.Store(s)
		}
	}
	w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(any) { w.current.Store(nil) },
	})
	go w.informer.RunWithContext(ctx)
	return w
}

// Get returns the Secret, or nil when it does not exist (or is not synced).
func (w *SecretWatch) Get() *corev1.Secret { return w.current.Load() }

// HasSynced reports whether the first list has completed.
func (w *SecretWatch) HasSynced() bool { return w.informer.HasSynced() }

// WaitForSync blocks until the first list completes or ctx ends.
func (w *SecretWatch) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced)
}

// EnsureSecret returns namespace/name, creating it with gen's data when it
// does not exist. Controllers racing to create it all end up with the one
// that won: a losing Create reads the winner's.
func EnsureSecret(ctx context.Context, client kubernetes.Interface, namespace, name string, gen func() (map[string][]byte, error)) (*corev1.Secret, error) {
	secrets := client.CoreV1().Secrets(namespace)
	if s, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return s, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	data, err := gen()
	if err != nil {
		return nil, fmt.Errorf("generate secret %s/%s: %w", namespace, name, err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "ecapi"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	created, err := secrets.Create(ctx, s, metav1.CreateOptions{})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create secret %s/%s: %w", namespace, name, err)
	}
	existing, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s after losing the create race: %w", namespace, name, err)
	}
	return existing, nil
}
