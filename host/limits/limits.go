// Package limits holds the schema and value limits of the data the API
// takes in: how many features a record and the whole catalogue may have,
// how long IDs and names may be and what characters they may hold, the
// range of feature and outcome values, the window of event times, the
// treatment arms and the propensity floor.
//
// A Limits checks one record at a time and says what is wrong in an error
// meant for the client; the API turns it into a 400 (gRPC
// InvalidArgument), and `causalrec check` applies the same checks to the
// data already stored.
package limits

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/causalrec/causalrec/host/store"
)

// Limits are the schema and value limits. The zero value is not useful;
// start from Default.
type Limits struct {
	// MaxFeatures is the most features one item or user may have.
	MaxFeatures int
	// MaxCatalogFeatures is the most distinct feature names all the items
	// together may have, and, apart, all the users.
	MaxCatalogFeatures int
	// MaxIDBytes bounds the IDs of items, users, events and policies and
	// the arm names; MaxNameBytes bounds feature names.
	MaxIDBytes   int
	MaxNameBytes int
	// MaxAbsValue bounds the absolute value of every feature value.
	MaxAbsValue float64
	// MaxEventAge and MaxEventAhead are the window of event times around
	// now: an event may be at most MaxEventAge old and MaxEventAhead in
	// the future.
	MaxEventAge   time.Duration
	MaxEventAhead time.Duration
	// MinOutcomeValue and MaxOutcomeValue bound the value of an outcome
	// (an omitted value is 1).
	MinOutcomeValue float64
	MaxOutcomeValue float64
	// Arms are the treatment arm names an exposure may carry (an omitted
	// arm is "treated"; "control" is the hold-out).
	Arms []string
	// MinPropensity is the smallest propensity accepted (0, unknown, is
	// always accepted): inverse-propensity weights grow as 1/p.
	MinPropensity float64
}

// Default returns the limits used when none are configured.
func Default() Limits {
	return Limits{
		MaxFeatures:        256,
		MaxCatalogFeatures: 1024,
		MaxIDBytes:         256,
		MaxNameBytes:       128,
		MaxAbsValue:        1e9,
		// Thirty years back: logged experiments are kept and replayed for
		// long (the bundled Hillstrom trial is from 2008).
		MaxEventAge:     30 * 365 * 24 * time.Hour,
		MaxEventAhead:   24 * time.Hour,
		MinOutcomeValue: 0,
		MaxOutcomeValue: 1e6,
		Arms:            []string{store.DefaultArm, "control"},
		MinPropensity:   1e-6,
	}
}

// Validate checks the limits themselves.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxFeatures < 1 || l.MaxCatalogFeatures < l.MaxFeatures {
		errs = append(errs, fmt.Errorf("max_features %d must be at least 1 and max_catalog_features %d at least max_features", l.MaxFeatures, l.MaxCatalogFeatures))
	}
	if l.MaxIDBytes < 1 || l.MaxIDBytes > store.MaxIDBytes || l.MaxNameBytes < 1 || l.MaxNameBytes > store.MaxIDBytes {
		errs = append(errs, fmt.Errorf("max_id_bytes %d and max_name_bytes %d must be in [1, %d]", l.MaxIDBytes, l.MaxNameBytes, store.MaxIDBytes))
	}
	if !(l.MaxAbsValue > 0) || math.IsInf(l.MaxAbsValue, 0) {
		errs = append(errs, fmt.Errorf("max_abs_value %v must be positive and finite", l.MaxAbsValue))
	}
	if l.MaxEventAge <= 0 || l.MaxEventAhead < 0 {
		errs = append(errs, fmt.Errorf("max_event_age %v must be positive and max_event_ahead %v not negative", l.MaxEventAge, l.MaxEventAhead))
	}
	if math.IsNaN(l.MinOutcomeValue) || math.IsNaN(l.MaxOutcomeValue) || math.IsInf(l.MinOutcomeValue, 0) || math.IsInf(l.MaxOutcomeValue, 0) ||
		l.MinOutcomeValue > 1 || l.MaxOutcomeValue < 1 {
		errs = append(errs, fmt.Errorf("min_outcome_value %v and max_outcome_value %v must be finite and hold 1 (the default value) between them", l.MinOutcomeValue, l.MaxOutcomeValue))
	}
	if !slices.Contains(l.Arms, store.DefaultArm) {
		errs = append(errs, fmt.Errorf("arms %q must hold %q, the arm of an exposure that names none", l.Arms, store.DefaultArm))
	}
	for _, a := range l.Arms {
		if err := l.checkName("arm", a, l.MaxIDBytes); err != nil {
			errs = append(errs, fmt.Errorf("arms: %w", err))
		}
	}
	if !(l.MinPropensity > 0 && l.MinPropensity <= 1) {
		errs = append(errs, fmt.Errorf("min_propensity %v must be in (0, 1]", l.MinPropensity))
	}
	return errors.Join(errs...)
}

// CheckID reports an ID (what says which) that is empty, longer than
// MaxIDBytes, not UTF-8 or holds a control character.
func (l Limits) CheckID(what, id string) error {
	return l.checkName(what, id, l.MaxIDBytes)
}

func (l Limits) checkName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > max:
		return fmt.Errorf("%s %s is %d bytes, over the limit of %d", what, quote(s), len(s), max)
	case printableASCII(s):
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %s is not valid UTF-8", what, quote(s))
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%s %s holds the control character %U at byte %d", what, quote(s), []rune(s[i:])[0], i)
	}
	return nil
}

// printableASCII reports whether s holds only printable ASCII: valid
// UTF-8 without control characters, the common case checked fast.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// quote quotes s for a message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}

// CheckFeatures reports features that are too many, a name that is not a
// valid name (see CheckID; at most MaxNameBytes) or a value that is not
// finite or over MaxAbsValue in absolute value. The error names the first
// offending feature in name order, so it is the same on every call.
func (l Limits) CheckFeatures(f map[string]float64) error {
	if len(f) > l.MaxFeatures {
		return fmt.Errorf("%d features, over the limit of %d per record", len(f), l.MaxFeatures)
	}
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := l.checkName("feature name", k, l.MaxNameBytes); err != nil {
			return err
		}
		if v := f[k]; !(math.Abs(v) <= l.MaxAbsValue) {
			return fmt.Errorf("feature %s is %v, outside [-%g, %g]", quote(k), v, l.MaxAbsValue, l.MaxAbsValue)
		}
	}
	return nil
}

// CheckItem reports the first problem of an item: its ID or its features
// (the store's own checks, store.Item.Validate, come on top).
func (l Limits) CheckItem(it store.Item) error {
	if err := l.CheckID("item id", it.ID); err != nil {
		return err
	}
	if err := l.CheckFeatures(it.Features); err != nil {
		return fmt.Errorf("item %s: %w", quote(it.ID), err)
	}
	return nil
}

// CheckUser reports the first problem of a user: its ID or its features.
func (l Limits) CheckUser(u store.User) error {
	if err := l.CheckID("user id", u.ID); err != nil {
		return err
	}
	if err := l.CheckFeatures(u.Features); err != nil {
		return fmt.Errorf("user %s: %w", quote(u.ID), err)
	}
	return nil
}

// CheckEvent reports the first problem of an event: an ID, user, item,
// arm or policy ID that is not a valid ID, a time outside [now −
// MaxEventAge, now + MaxEventAhead], an outcome value outside
// [MinOutcomeValue, MaxOutcomeValue], an arm not in Arms or a propensity
// under MinPropensity.
func (l Limits) CheckEvent(e store.Event, now time.Time) error {
	if e.ID != "" {
		if err := l.CheckID("event id", e.ID); err != nil {
			return err
		}
	}
	if err := l.CheckID("event user", e.User); err != nil {
		return err
	}
	if err := l.CheckID("event item", e.Item); err != nil {
		return err
	}
	if e.PolicyID != "" {
		if err := l.CheckID("event policy_id", e.PolicyID); err != nil {
			return err
		}
	}
	if lo, hi := now.Add(-l.MaxEventAge), now.Add(l.MaxEventAhead); e.Time.Before(lo) || e.Time.After(hi) {
		return fmt.Errorf("event time %s outside the accepted window [%s, %s] (max_event_age %v, max_event_ahead %v)",
			e.Time.UTC().Format(time.RFC3339), lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339), l.MaxEventAge, l.MaxEventAhead)
	}
	if e.Kind == store.Outcome && e.Value != 0 && !(e.Value >= l.MinOutcomeValue && e.Value <= l.MaxOutcomeValue) {
		return fmt.Errorf("outcome value %v outside [%g, %g]", e.Value, l.MinOutcomeValue, l.MaxOutcomeValue)
	}
	if e.Arm != "" && !slices.Contains(l.Arms, e.Arm) {
		return fmt.Errorf("arm %s is not one of %s", quote(e.Arm), quoteList(l.Arms))
	}
	if e.Propensity != 0 && !(e.Propensity >= l.MinPropensity) {
		return fmt.Errorf("propensity %v under the floor of %g (0 means unknown)", e.Propensity, l.MinPropensity)
	}
	return nil
}

// CheckCandidates reports a candidate list with an invalid or a repeated
// ID.
func (l Limits) CheckCandidates(ids []string) error {
	for i, id := range ids {
		if err := l.CheckID("candidate", id); err != nil {
			return fmt.Errorf("candidates[%d]: %w", i, err)
		}
	}
	// The set of IDs seen is reused from list to list: a recommend request
	// checks one list, and would otherwise build a map of it each time.
	seen := seenSets.Get().(map[string]struct{})
	defer func() {
		clear(seen)
		seenSets.Put(seen)
	}()
	for i, id := range ids {
		if _, ok := seen[id]; ok {
			j := slices.Index(ids, id)
			return fmt.Errorf("candidates[%d] repeats candidates[%d] %s", i, j, quote(id))
		}
		seen[id] = struct{}{}
	}
	return nil
}

// seenSets holds sets for CheckCandidates.
var seenSets = sync.Pool{New: func() any { return map[string]struct{}{} }}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = quote(v)
	}
	return strings.Join(q, ", ")
}
