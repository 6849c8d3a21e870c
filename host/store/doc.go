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
// Event ingestion can be retried: AddEventBatch stores each event at most
// once within the idempotency window, refuses an event ID reused with other
// content, and resumes a batch sent before with the same idempotency key;
// ingest.go states the guarantee.
//
// Errors: ErrNotFound for a missing record, ErrUnavailable when Redis cannot
// be reached (the message names the address), ErrConflict for an ID or key
// reused with other content. Check them with errors.Is.
package store
