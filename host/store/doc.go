// Package store keeps causalrec's data in Redis: items, users, the event log
// (exposures and outcomes), per-user histories, item popularity, the
// text-score cache of the scorer plugins and saved models with their serving
// pointers.
//
// A Store works over any redis.UniversalClient, so one code path serves a
// single node, a Sentinel-managed primary and a Cluster. Connect builds such
// a client from a URL (see ParseURL for the accepted forms) and StartEmbedded
// runs an in-process, non-persistent server for demos.
//
// Every key lives under the Store's prefix; keys.go lists every key format.
// Keys that a single Lua script touches together share a cluster hash tag.
//
// Errors: ErrNotFound for a missing record, ErrUnavailable when Redis cannot
// be reached (the message names the address). Check both with errors.Is.
package store
