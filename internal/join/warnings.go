package join

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// unusedControllerTokenWindow is how far back an unused controller join
// token still suggests a controller join is under way.
const unusedControllerTokenWindow = 30 * time.Minute

// parallelControllerWarnings names the controller join tokens issued in the
// last 30 minutes that were never downloaded, while no controller node has
// appeared since: another controller join may be about to start, and k0s
// controllers joining at once can break etcd membership.
func (s *Service) parallelControllerWarnings(ctx context.Context, now time.Time) ([]string, error) {
	tokens, err := listBootstrapTokens(ctx, s.Client)
	if err != nil {
		return nil, wrap(Unavailable, err, "cannot list join tokens: %v", err)
	}
	latest, err := s.latestControllerNode()
	if err != nil {
		return nil, err
	}
	sortByCreation(tokens)
	var warnings []string
	for _, t := range tokens {
		switch {
		case !t.Controller, t.Uses > 0,
			now.Sub(t.Created) > unusedControllerTokenWindow,
			!t.Expires.IsZero() && now.After(t.Expires),
			!latest.IsZero() && !latest.Before(t.Created):
			continue
		}
		warnings = append(warnings, fmt.Sprintf("another controller join token (%s, created %s) has not been used yet: joining controllers in parallel risks etcd membership errors; join one controller at a time or pass allowParallel",
			t.ID, t.Created.UTC().Format(time.RFC3339)))
	}
	return warnings, nil
}

// latestControllerNode is when the newest controller node was created.
func (s *Service) latestControllerNode() (time.Time, error) {
	list, err := s.Nodes.Lister().List(labels.Everything())
	if err != nil {
		return time.Time{}, wrap(Unavailable, err, "cannot read the node list: %v", err)
	}
	var latest time.Time
	for _, n := range list {
		if s.isController(n.Labels) && n.CreationTimestamp.After(latest) {
			latest = n.CreationTimestamp.Time
		}
	}
	return latest, nil
}
