package causal

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// ErrStopped is returned, wrapped, by a fit whose source's stop signal
// fired (see WithStop); check with errors.Is.
var ErrStopped = errors.New("fit stopped")

// stopSource is a rand.Source that carries a fit's stop signal and
// progress callback (either may be nil).
type stopSource struct {
	rand.Source
	stop     func() error
	progress *progressHook
}

// WithStop returns a source that draws from src and carries stop, a
// function that returns nil while the fit may go on and an error once it
// must end (context.Context's Err fits). Every estimator and learner of
// this package given such a source, and the sources they derive from it,
// checks stop between its steps — each Newton iteration, boosting round,
// tree, network minibatch and cross-fitting fold — and then returns an error wrapping
// ErrStopped and stop's error. The draws are those of src; a progress
// callback src carries (WithProgress) is kept.
func WithStop(src rand.Source, stop func() error) rand.Source {
	if stop == nil {
		return src
	}
	if s, ok := src.(stopSource); ok {
		if prev := s.stop; prev != nil {
			s.stop = func() error {
				if err := prev(); err != nil {
					return err
				}
				return stop()
			}
		} else {
			s.stop = stop
		}
		return s
	}
	return stopSource{Source: src, stop: stop}
}

// stopped returns nil while the fit given src may go on, and an error
// wrapping ErrStopped once its stop signal fired.
func stopped(src rand.Source) error {
	s, ok := src.(stopSource) // a nil src is no stopSource
	if !ok || s.stop == nil {
		return nil
	}
	if err := s.stop(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return nil
}

// derive returns a PCG source seeded with s1 and s2 that carries the stop
// signal and the progress callback of parent, if any.
func derive(parent rand.Source, s1, s2 uint64) rand.Source {
	pcg := rand.NewPCG(s1, s2)
	if s, ok := parent.(stopSource); ok {
		return stopSource{Source: pcg, stop: s.stop, progress: s.progress}
	}
	return pcg
}
