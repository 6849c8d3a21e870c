package limits

import (
	"context"
	"fmt"
	"time"

	"github.com/causalrec/causalrec/host/store"
)

// Records are the stored records a Scan reads (*store.Store).
type Records interface {
	EachItem(ctx context.Context, fn func(store.Item) error) error
	EachUser(ctx context.Context, fn func(store.User) error) error
	Events(ctx context.Context, fn func(store.Event) error) error
}

// Report is what Scan found: how many records of each kind it read, how
// many break the limits and the first problems of each kind.
type Report struct {
	Items, Users, Events          int
	BadItems, BadUsers, BadEvents int
	// ItemFeatures and UserFeatures count the distinct feature names.
	ItemFeatures, UserFeatures int
	// Problems lists the first problems of each kind, one line each.
	Problems []string
}

// Bad is the number of problems found, records and catalogues.
func (r Report) Bad(l Limits) int {
	n := r.BadItems + r.BadUsers + r.BadEvents
	if r.ItemFeatures > l.MaxCatalogFeatures {
		n++
	}
	if r.UserFeatures > l.MaxCatalogFeatures {
		n++
	}
	return n
}

// Scan checks every stored item, user and event against the limits (the
// events' times against the window around now) and the catalogues' numbers
// of distinct feature names; it lists at most show problems of each kind.
func (l Limits) Scan(ctx context.Context, recs Records, now time.Time, show int) (Report, error) {
	var r Report
	note := func(bad *int, err error) {
		if *bad++; *bad <= show {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	itemNames, userNames := map[string]bool{}, map[string]bool{}
	err := recs.EachItem(ctx, func(it store.Item) error {
		r.Items++
		for n := range it.Features {
			itemNames[n] = true
		}
		if err := it.Validate(); err != nil {
			note(&r.BadItems, err)
		} else if err := l.CheckItem(it); err != nil {
			note(&r.BadItems, err)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("check items: %w", err)
	}
	err = recs.EachUser(ctx, func(u store.User) error {
		r.Users++
		for n := range u.Features {
			userNames[n] = true
		}
		if err := u.Validate(); err != nil {
			note(&r.BadUsers, err)
		} else if err := l.CheckUser(u); err != nil {
			note(&r.BadUsers, err)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("check users: %w", err)
	}
	err = recs.Events(ctx, func(e store.Event) error {
		r.Events++
		if err := l.CheckEvent(e, now); err != nil {
			note(&r.BadEvents, fmt.Errorf("event %q: %w", e.ID, err))
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("check events: %w", err)
	}
	r.ItemFeatures, r.UserFeatures = len(itemNames), len(userNames)
	for _, c := range []struct {
		kind string
		n    int
	}{{"items", r.ItemFeatures}, {"users", r.UserFeatures}} {
		if c.n > l.MaxCatalogFeatures {
			r.Problems = append(r.Problems, fmt.Sprintf("the %s have %d distinct feature names, over the limit of %d (max_catalog_features)", c.kind, c.n, l.MaxCatalogFeatures))
		}
	}
	return r, nil
}
