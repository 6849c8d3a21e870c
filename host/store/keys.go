package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// keys builds every Redis key the Store uses. All key formats are defined
// here and nowhere else.
//
// With prefix P (for example "causalrec:") the keys are:
//
//	P item:<id>                 string, JSON of an Item
//	P items                     set of all item IDs (SSCAN for iteration)
//	P user:<id>                 string, JSON of a User
//	P users                     set of all user IDs
//	P textscore:<plugin>        hash, item ID -> JSON {version, text hash, features}
//	P model:<uuid>              hash, "meta" -> JSON of a ModelRecord without bytes, "bytes" -> raw bytes
//	P models:<name>             sorted set of model IDs of one name, scored by creation time (unix ms)
//	P modelnames                set of model names
//	P serving:<name>            hash, "current" and "previous" model IDs
//	P nbr:<item>                sorted set, item ID -> co-occurrence score with <item> (candidate generation)
//	P features:<kind>           set of the feature names of the stored items (kind "items") or users ("users")
//	P train:lease               string, the ID of the training job that holds the store's train lease (expires unless renewed)
//	P trainjob:<id>             string, JSON of a TrainJob (expires)
//	P{P model:<uuid>}:sample    string, a bounded random sample of the model's training table (see ModelSample),
//	                            written with the model; the hash tag keeps a model's own keys in one slot
//	P{P model:<uuid>}:explain   string, JSON of the model's explanation (GET /v1/models/{id}/explain), a cache
//	P catalog                   string, a random token replaced by every write of items or text scores (see catalog.go)
//	P batch:<key hash>          hash, the progress of an event batch sent with an idempotency key (see ingest.go):
//	                            "h" batch digest, "n" events, "next" first event not done, "w" written, "d" duplicates
//	P experiments               hash, experiment ID -> JSON of an Experiment (created and stopped by WATCH
//	                            transactions on this one key)
//	P exp:<id>:users            sorted set, the experiment's roster: user ID scored by assignment time (unix ms)
//	P exp:<id>:log              stream, the experiment's served lists (field "d" = JSON of a Decision), capped
//
// A user's assignments carry a hash tag of their own, so that whatever
// touches one user's assignments together stays on one slot of a Cluster:
//
//	P{P asg:<user>}             hash, experiment ID -> "<arm> <unix ms>" of the user's first list in it
//
// The event keys are written together by one Lua script, so in a Cluster
// they must share one hash slot. They carry the hash tag {P events}:
//
//	P{P events}:log             stream, the global event log in ingestion order (field "e" = JSON of an Event)
//	P{P events}:id:<event id>   string, marks an event ID as ingested (idempotency): the digest of the event's
//	                            content (Event.Digest), then ":" and the batch tag for a batch with a key
//	P{P events}:hist:<user>     sorted set, JSON of the user's last events scored by event time (unix ms)
//	P{P events}:pop:outcome     sorted set, item ID -> number of outcome events
//	P{P events}:pop:exposure    sorted set, item ID -> number of exposure events
//
// Variable parts are always the last segment of a key or are followed only
// by fixed text after a separator that cannot be confused, so any ID is safe.
type keys struct {
	p   string // prefix
	tag string // prefix + "{" + prefix + "events}"
}

func newKeys(prefix string) (keys, error) {
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("store: prefix %q must not contain '{' or '}' (they are cluster hash tags)", prefix)
	}
	return keys{p: prefix, tag: prefix + "{" + prefix + "events}"}, nil
}

func (k keys) item(id string) string { return k.p + "item:" + id }
func (k keys) items() string         { return k.p + "items" }

// itemKeys returns item(id) for every id, built in one allocation.
func (k keys) itemKeys(ids []string) []string {
	const mid = "item:"
	n := 0
	for _, id := range ids {
		n += len(k.p) + len(mid) + len(id)
	}
	var b strings.Builder
	b.Grow(n)
	out := make([]string, len(ids))
	start := 0
	for i, id := range ids {
		b.WriteString(k.p)
		b.WriteString(mid)
		b.WriteString(id)
		out[i] = b.String()[start:]
		start = b.Len()
	}
	return out
}
func (k keys) user(id string) string { return k.p + "user:" + id }
func (k keys) users() string         { return k.p + "users" }
func (k keys) featureNames(kind string) string {
	return k.p + "features:" + kind
}
func (k keys) trainLease() string        { return k.p + "train:lease" }
func (k keys) trainJob(id string) string { return k.p + "trainjob:" + id }
func (k keys) catalog() string           { return k.p + "catalog" }
func (k keys) textScores(plugin string) string {
	return k.p + "textscore:" + plugin
}
func (k keys) model(id string) string          { return k.p + "model:" + id }
func (k keys) modelsByName(name string) string { return k.p + "models:" + name }
func (k keys) modelNames() string              { return k.p + "modelnames" }
func (k keys) serving(name string) string      { return k.p + "serving:" + name }

// modelTag is the hash tag of a model's own keys besides its hash.
func (k keys) modelTag(id string) string     { return k.p + "{" + k.p + "model:" + id + "}" }
func (k keys) modelSample(id string) string  { return k.modelTag(id) + ":sample" }
func (k keys) modelExplain(id string) string { return k.modelTag(id) + ":explain" }
func (k keys) neighbors(item string) string  { return k.p + "nbr:" + item }

// batch is the progress key of the batch with idempotency key key; the key
// is hashed, so any key is safe and the Redis key short.
func (k keys) batch(key string) string {
	sum := sha256.Sum256([]byte(key))
	return k.p + "batch:" + hex.EncodeToString(sum[:16])
}

func (k keys) experiments() string         { return k.p + "experiments" }
func (k keys) roster(exp string) string    { return k.p + "exp:" + exp + ":users" }
func (k keys) decisions(exp string) string { return k.p + "exp:" + exp + ":log" }

// assignments is the user's assignments key, tagged by the user: a user ID
// holding '}' ends the tag early, which still maps every key of that user
// to one slot.
func (k keys) assignments(user string) string { return k.p + "{" + k.p + "asg:" + user + "}" }

func (k keys) eventLog() string           { return k.tag + ":log" }
func (k keys) eventID(id string) string   { return k.tag + ":id:" + id }
func (k keys) history(user string) string { return k.tag + ":hist:" + user }
func (k keys) popOutcome() string         { return k.tag + ":pop:outcome" }
func (k keys) popExposure() string        { return k.tag + ":pop:exposure" }
