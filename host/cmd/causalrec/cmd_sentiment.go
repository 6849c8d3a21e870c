package main

import (
	"context"
	"errors"
)

// runSentiment is replaced by the real sentiment command.
func runSentiment(ctx context.Context, s stdio, args []string) error {
	return errors.New("sentiment: not built yet")
}
