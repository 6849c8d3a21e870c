package store

import "context"

// userRecords is where users live: key user(id), IDs in the set users().
func (s *Store) userRecords() recordKind[User] {
	return recordKind[User]{name: "users", one: "user", id: func(u User) string { return u.ID }, validate: User.Validate, key: s.k.user, all: s.k.users(),
		features: func(u User) map[string]float64 { return u.Features }, names: s.k.featureNames(FeaturesOfUsers)}
}

// PutUsers stores users, replacing any stored under the same IDs, and
// returns how many replaced one. Every user is validated first.
func (s *Store) PutUsers(ctx context.Context, users []User) (replaced int, err error) {
	return putRecords(ctx, s, s.userRecords(), users, nil)
}

// Users returns the stored users with the given IDs, in the order asked,
// and the IDs that have no user record.
func (s *Store) Users(ctx context.Context, ids []string) (found []User, missing []string, err error) {
	return getRecords(ctx, s, s.userRecords(), ids)
}
