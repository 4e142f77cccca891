package join

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// countAttempts bounds the Get-check-Update rounds of one download when
// other controllers (or other downloads here) update the same Secret.
const countAttempts = 8

// MaxUsesLimit bounds "maxUses" so a typo cannot look like "unlimited".
const MaxUsesLimit = 1000

// parseMaxUses reads the optional "maxUses" of a create-join-command request.
func parseMaxUses(n int) (int, error) {
	if n < 0 || n > MaxUsesLimit {
		return 0, errorf(Invalid, "maxUses %d is out of range: use 1 to %d, or leave it out for unlimited downloads", n, MaxUsesLimit)
	}
	return n, nil
}

// CountDownload records one bundle download against the join token behind
// g, refusing it once the token's uses are exhausted. The count lives on the
// bootstrap Secret and is updated with the resourceVersion just read, so two
// controllers racing for the last use cannot both win: the loser's Update
// conflicts, it reads again and finds nothing left. Grants made for a login
// token are not counted (their bootstrap token exists for that one download).
//
// The server calls this for every download except the resumption of one
// already counted (a Range request conditional on the bundle's ETag).
func (s *Service) CountDownload(ctx context.Context, g *Grant) error {
	if !g.JoinToken {
		return nil
	}
	id := g.Token.ID
	secrets := s.Client.CoreV1().Secrets(bootstrapNamespace)
	for attempt := 1; ; attempt++ {
		secret, err := secrets.Get(ctx, bootstrapPrefix+id, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errorf(Unauthorized, "join token revoked: bootstrap token %s no longer exists; run create-join-command again", id)
		}
		if err != nil {
			return wrap(Unavailable, err, "cannot read the uses of join token %s (%v): retry shortly", id, err)
		}
		t := fromSecret(secret)
		if t.MaxUses > 0 && t.Uses >= t.MaxUses {
			return errorf(Unauthorized, "join token uses exhausted: token %s allowed %d download(s) and all were made; run create-join-command again", id, t.MaxUses)
		}
		if secret.Annotations == nil {
			secret.Annotations = map[string]string{}
		}
		secret.Annotations[annotationUses] = strconv.Itoa(t.Uses + 1)
		// The object carries the resourceVersion of the Get: Update fails
		// with Conflict if anyone wrote the Secret since.
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		switch {
		case err == nil:
			s.Logger.Info("join bundle download counted", "log", "audit", "tokenID", id, "uses", t.Uses+1, "maxUses", t.MaxUses)
			return nil
		case apierrors.IsNotFound(err):
			return errorf(Unauthorized, "join token revoked: bootstrap token %s no longer exists; run create-join-command again", id)
		case t.MaxUses == 0 && (!apierrors.IsConflict(err) || attempt == countAttempts):
			// Without a limit the count is only informational: a busy or
			// failing Secret must not stop the download.
			s.Logger.Warn("could not count a join bundle download", "tokenID", id, "err", err)
			return nil
		case !apierrors.IsConflict(err):
			return wrap(Unavailable, err, "cannot record the use of join token %s (%v): retry shortly", id, err)
		case attempt == countAttempts:
			return wrap(Unavailable, err, "join token %s is being used by many downloads at once: retry shortly", id)
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return wrap(Unavailable, err, "counting the use of join token %s: %v", id, err)
		}
	}
}

// sleepJitter spreads retries so racing writers do not collide again.
func sleepJitter(ctx context.Context, attempt int) error {
	d := time.Duration(attempt)*5*time.Millisecond + rand.N(10*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
