package causal

import (
	"encoding/json"
	"fmt"

	"github.com/causalrec/causalrec/causal/jsonobj"
)

// FormatVersion is the version of the saved-model format. Loading a model
// saved with a different major format is an error.
const FormatVersion = 1

// Kinded is implemented by every model type that can be saved. Kind names
// the concrete type in the saved envelope and must be unique.
type Kinded interface {
	Kind() string
}

// envelope is the JSON form of a saved model.
type envelope struct {
	Format  int             `json:"format"`
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload"`
}

// ErrFormat reports a saved model that cannot be read: another format
// version, an unknown kind or corrupt bytes. Check with errors.Is.
var ErrFormat = fmt.Errorf("unreadable model")

// newByKind returns a pointer to a zero value of the model type saved under
// kind. Every savable model type has one entry here.
func newByKind(kind string) (any, bool) {
	switch kind {
	// One case per savable type: case "linear": return new(LinearModel), true
	case "uplift-tree":
		return new(UpliftTreeModel), true
	case "uplift-forest":
		return new(UpliftForestModel), true
	case "causal-forest":
		return new(CausalForestModel), true
	case "linear":
		return new(LinearModel), true
	case "onehot":
		return new(Encoder), true
	case "gbt":
		return new(GBTModel), true
	case "forest":
		return new(ForestModel), true
	case "t-learner":
		return new(TModel), true
	case "s-learner":
		return new(SModel), true
	case "x-learner":
		return new(XModel), true
	case "r-learner":
		return new(RModel), true
	case "dr-learner":
		return new(DRModel), true
	case "auto":
		return new(AutoModel), true
	case "stack":
		return new(StackModel), true
	case "bootstrap":
		return new(BootstrappedModel), true
	case "tarnet":
		return new(TARNetModel), true
	case "mlp":
		return new(MLPModel), true
	case "dlce":
		return new(DLCEModel), true
	case "outcome":
		return new(OutcomeModel), true
	}
	return nil, false
}

// Marshal encodes a Model or UpliftModel (any Kinded value whose exported
// fields describe it completely) as JSON with a versioned envelope.
func Marshal(m Kinded) ([]byte, error) {
	p, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s model: %w", m.Kind(), err)
	}
	return json.Marshal(envelope{Format: FormatVersion, Kind: m.Kind(), Payload: p})
}

// Unmarshal decodes bytes written by Marshal. A model type with a
// Validate() error method is validated after decoding.
func Unmarshal(b []byte) (any, error) {
	// The payload is most of the bytes: encoding/json would scan it
	// once to check the document and again to find its end, and the
	// causal forest's decoder once more.
	var e envelope
	payload, rest, fast := jsonobj.Split(b, "payload")
	if fast && json.Unmarshal(rest, &e) == nil {
		e.Payload = payload
	} else {
		fast, e = false, envelope{}
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
	}
	if e.Format != FormatVersion {
		return nil, fmt.Errorf("%w: saved with format version %d, this build reads version %d", ErrFormat, e.Format, FormatVersion)
	}
	v, ok := newByKind(e.Kind)
	if !ok {
		return nil, fmt.Errorf("%w: unknown model kind %q", ErrFormat, e.Kind)
	}
	var err error
	if cf, ok := v.(*CausalForestModel); ok && fast {
		// Its decoder checks every byte of the payload itself.
		err = cf.UnmarshalJSON(e.Payload)
	} else {
		err = json.Unmarshal(e.Payload, v)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s payload: %v", ErrFormat, e.Kind, err)
	}
	// Models that can check their own structure (tree indexes in range,
	// matching lengths) do so, so that corrupt bytes are an error here
	// rather than a panic when predicting.
	if c, ok := v.(interface{ Validate() error }); ok {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, e.Kind, err)
		}
	}
	return v, nil
}

// savedModel holds a nested base Model inside another model's JSON.
type savedModel struct{ Model }

// MarshalJSON implements json.Marshaler.
func (s savedModel) MarshalJSON() ([]byte, error) {
	k, ok := s.Model.(Kinded)
	if !ok {
		return nil, fmt.Errorf("model %T cannot be saved", s.Model)
	}
	return Marshal(k)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *savedModel) UnmarshalJSON(b []byte) error {
	v, err := Unmarshal(b)
	if err != nil {
		return err
	}
	m, ok := v.(Model)
	if !ok {
		return fmt.Errorf("%w: %T is not a base model", ErrFormat, v)
	}
	s.Model = m
	return nil
}
