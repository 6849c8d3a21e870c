package store

import (
	"context"
	"fmt"
)

// The kinds of records whose feature names the store keeps (FeatureNames).
const (
	FeaturesOfItems = "items"
	FeaturesOfUsers = "users"
)

// FeatureNames returns how many distinct feature names the stored records
// of kind (FeaturesOfItems or FeaturesOfUsers) have, and which of names are
// not among them. The names are recorded by PutItems and PutUsers; records
// written before the store kept them are not counted (EachItem and
// EachUser read every record).
func (s *Store) FeatureNames(ctx context.Context, kind string, names []string) (count int, unseen []string, err error) {
	if kind != FeaturesOfItems && kind != FeaturesOfUsers {
		return 0, nil, fmt.Errorf("feature names: unknown kind %q", kind)
	}
	key := s.k.featureNames(kind)
	n, err := s.rdb.SCard(ctx, key).Result()
	if err != nil {
		return 0, nil, s.wrap("feature names", err)
	}
	if len(names) == 0 {
		return int(n), nil, nil
	}
	err = batches(names, s.opts.BatchSize, func(b []string) error {
		args := make([]any, len(b))
		for i, name := range b {
			args[i] = name
		}
		in, err := s.rdb.SMIsMember(ctx, key, args...).Result()
		if err != nil {
			return s.wrap("feature names", err)
		}
		for i, ok := range in {
			if !ok {
				unseen = append(unseen, b[i])
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return int(n), unseen, nil
}

// EachItem calls fn with every stored item, in no order; an error of fn
// stops the scan and is returned.
func (s *Store) EachItem(ctx context.Context, fn func(Item) error) error {
	return eachRecord(ctx, s, s.itemRecords(), fn)
}

// EachUser calls fn with every stored user, as EachItem.
func (s *Store) EachUser(ctx context.Context, fn func(User) error) error {
	return eachRecord(ctx, s, s.userRecords(), fn)
}
