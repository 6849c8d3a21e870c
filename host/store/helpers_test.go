package store

import (
	"fmt"
	"math"
)

func nan() float64 { return math.NaN() }

func typeName(v any) string { return fmt.Sprintf("%T", v) }
