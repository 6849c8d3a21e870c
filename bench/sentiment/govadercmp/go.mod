module github.com/causalrec/causalrec/bench/sentiment/govadercmp

go 1.26.8

require (
	github.com/causalrec/causalrec v0.0.0
	github.com/jonreiter/govader v0.0.0-20250429093935-f6505c8d03cc
)

require gonum.org/v1/gonum v0.17.0 // indirect

replace github.com/causalrec/causalrec => ../../..
