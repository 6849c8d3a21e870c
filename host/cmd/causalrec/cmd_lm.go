package main

import (
	"context"
	"errors"
)

// runLM is replaced by the real lm command.
func runLM(ctx context.Context, s stdio, args []string) error {
	return errors.New("lm: not built yet")
}
