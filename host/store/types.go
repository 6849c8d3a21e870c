package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits enforced by Validate.
const (
	// MaxIDBytes is the longest ID (item, user, event, arm, policy) accepted.
	MaxIDBytes = 512
	// MaxTextBytes is the longest item text accepted.
	MaxTextBytes = 1 << 16
)

// DefaultArm is the treatment arm of an exposure that names none.
const DefaultArm = "treated"

// Item is one recommendable thing.
type Item struct {
	ID       string             `json:"id"`
	Text     string             `json:"text,omitempty"`
	Category string             `json:"category,omitempty"`
	Features map[string]float64 `json:"features,omitempty"`
	Meta     map[string]string  `json:"meta,omitempty"`
}

// EventKind tells an exposure from an outcome.
type EventKind string

// The event kinds.
const (
	// Exposure: the item was shown (recommended) to the user.
	Exposure EventKind = "exposure"
	// Outcome: the user did the thing we want (click, purchase, ...) on the item.
	Outcome EventKind = "outcome"
)

// Event is one exposure or outcome.
//
// ID makes ingestion idempotent: AddEvents assigns a random UUID when it is
// empty, and an event whose ID was ingested before is ignored, so a retried
// batch never duplicates events.
type Event struct {
	ID   string    `json:"id,omitempty"`
	Kind EventKind `json:"kind"`
	User string    `json:"user"`
	Item string    `json:"item"`
	Time time.Time `json:"time"`
	// Arm is the treatment arm of an exposure; empty means DefaultArm.
	Arm string `json:"arm,omitempty"`
	// Propensity is the logging policy's probability of this exposure, in
	// (0, 1]; 0 means unknown.
	Propensity float64 `json:"propensity,omitempty"`
	Position   int     `json:"position,omitempty"`
	PolicyID   string  `json:"policy_id,omitempty"`
	// Value is the value of an outcome; 0 means the default, 1.
	Value float64 `json:"value,omitempty"`
	// TimeUnknown says the event came without its time: Time is then the
	// time it was ingested, which orders it for the history but says
	// nothing of when it happened. The API sets it for an event posted
	// without a time; training places such an event nowhere in time.
	TimeUnknown bool `json:"time_unknown,omitempty"`
}

// User holds optional user features.
type User struct {
	ID       string             `json:"id"`
	Features map[string]float64 `json:"features,omitempty"`
}

// ItemCount is an item's popularity: its numbers of outcome and exposure
// events.
type ItemCount struct {
	Item      string  `json:"item"`
	Outcomes  float64 `json:"outcomes"`
	Exposures float64 `json:"exposures"`
}

// TextScore is a scorer plugin's output for one item's text. TextHash is
// TextHash(item.Text) of the text that was scored.
type TextScore struct {
	ItemID   string             `json:"item_id"`
	TextHash string             `json:"text_hash"`
	Features map[string]float64 `json:"features"`
}

// ModelRecord is a saved, trained model.
type ModelRecord struct {
	ID            uuid.UUID         `json:"id"`
	Name          string            `json:"name"`
	Estimator     string            `json:"estimator,omitempty"`
	Plugin        string            `json:"plugin,omitempty"`
	PluginVersion string            `json:"plugin_version,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Bytes is the serialized model. ListModels leaves it nil.
	Bytes []byte `json:"bytes,omitempty"`
}

// TextHash returns the hash that keys the text-score cache: the hex SHA-256
// of text, cut to 32 hex digits.
func TextHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16])
}

// Validate reports the first problem with the item: an empty, overlong or
// non-UTF-8 ID, text that is not UTF-8 or longer than MaxTextBytes, or a
// feature that is NaN or infinite.
func (it Item) Validate() error {
	if err := checkID("item id", it.ID); err != nil {
		return err
	}
	if !utf8.ValidString(it.Text) {
		return fmt.Errorf("item %q: text is not valid UTF-8", it.ID)
	}
	if len(it.Text) > MaxTextBytes {
		return fmt.Errorf("item %q: text is %d bytes, over the limit of %d", it.ID, len(it.Text), MaxTextBytes)
	}
	if !utf8.ValidString(it.Category) {
		return fmt.Errorf("item %q: category is not valid UTF-8", it.ID)
	}
	if err := checkFeatures(it.Features); err != nil {
		return fmt.Errorf("item %q: %w", it.ID, err)
	}
	for k, v := range it.Meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("item %q: meta %q is not valid UTF-8", it.ID, k)
		}
	}
	return nil
}

// Validate reports the first problem with the user: a bad ID or a feature
// that is NaN or infinite.
func (u User) Validate() error {
	if err := checkID("user id", u.ID); err != nil {
		return err
	}
	if err := checkFeatures(u.Features); err != nil {
		return fmt.Errorf("user %q: %w", u.ID, err)
	}
	return nil
}

// Validate reports the first problem with the event: an unknown kind, an
// empty user or item, a zero time, a propensity outside (0, 1] (0 means
// unknown and is allowed), a NaN or infinite value, a negative position, or
// an ID, arm or policy ID that is overlong or not UTF-8.
func (e Event) Validate() error {
	if e.ID != "" {
		if err := checkID("event id", e.ID); err != nil {
			return err
		}
	}
	switch e.Kind {
	case Exposure, Outcome:
	case "":
		return errors.New("event: missing kind (want \"exposure\" or \"outcome\")")
	default:
		return fmt.Errorf("event: unknown kind %q (want \"exposure\" or \"outcome\")", e.Kind)
	}
	if err := checkID("event user", e.User); err != nil {
		return err
	}
	if err := checkID("event item", e.Item); err != nil {
		return err
	}
	if e.Time.IsZero() {
		return errors.New("event: missing time")
	}
	if math.IsNaN(e.Propensity) || math.IsInf(e.Propensity, 0) {
		return fmt.Errorf("event: propensity is %v", e.Propensity)
	}
	if e.Propensity != 0 && (e.Propensity < 0 || e.Propensity > 1) {
		return fmt.Errorf("event: propensity %v outside (0, 1]", e.Propensity)
	}
	if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return fmt.Errorf("event: value is %v", e.Value)
	}
	if e.Position < 0 {
		return fmt.Errorf("event: negative position %d", e.Position)
	}
	if e.Arm != "" {
		if err := checkID("event arm", e.Arm); err != nil {
			return err
		}
	}
	if e.PolicyID != "" {
		if err := checkID("event policy_id", e.PolicyID); err != nil {
			return err
		}
	}
	return nil
}

// WithDefaults returns e with the documented defaults filled in, except
// the ID: Arm DefaultArm for an exposure, Value 1 for an outcome.
func (e Event) WithDefaults() Event {
	if e.Kind == Exposure && e.Arm == "" {
		e.Arm = DefaultArm
	}
	if e.Kind == Outcome && e.Value == 0 {
		e.Value = 1
	}
	return e
}

func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty %s", what)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%s is %d bytes, over the limit of %d", what, len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%s %q is not valid UTF-8", what, id)
	}
	return nil
}

func checkFeatures(f map[string]float64) error {
	for k, v := range f {
		if k == "" {
			return errors.New("feature with an empty name")
		}
		if !utf8.ValidString(k) {
			return fmt.Errorf("feature name %q is not valid UTF-8", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("feature %q is %v", k, v)
		}
	}
	return nil
}
