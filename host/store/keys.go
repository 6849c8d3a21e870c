package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
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
//	P layout                    hash, "version" (2) and "event_shards" (S): the event layout, written when
//	                            a store is first used and checked at every start (see layout.go)
//
// The event keys are split into S shards (Options.EventShards, default 16).
// A user's events all go to one shard, number FNV-1a(user) mod S, and the
// keys of one shard carry one cluster hash tag, so the Lua script that
// ingests a user's events touches one hash slot. With T the tag of shard k,
// "P s<k>.<n>" with the smallest n ≥ 0 whose hash slot falls in the k-th
// of S equal ranges of the 16384 slots (so that the shards spread evenly
// over a Cluster's masters, whatever the prefix):
//
//	P{T}:log                    stream, the shard's event log in ingestion order (field "e" = JSON of an Event)
//	P{T}:id:<event id>          string, marks an event ID as ingested (idempotency): the digest of the event's
//	                            content (Event.Digest), then ":" and the batch tag for a batch with a key
//	P{T}:hist:<user>            sorted set, JSON of the user's last events scored by event time (unix ms)
//	P{T}:pop:outcome            sorted set, item ID -> number of outcome events of the shard's users
//	P{T}:pop:exposure           sorted set, item ID -> number of exposure events of the shard's users
//	P{T}:migrated               string, the last event of the earlier layout's log copied into the shard by
//	                            causalrec migrate (see migrate.go); "pop:<n>" chunks of its counts on shard 0
//
// An item's popularity is the sum of its counts over the shards.
//
// Releases before the sharded layout kept every event key under the one
// hash tag {P events} (P{P events}:log, :id:<id>, :hist:<user>,
// :pop:outcome, :pop:exposure); Migrate moves them.
//
// Variable parts are always the last segment of a key or are followed only
// by fixed text after a separator that cannot be confused, so any ID is safe.
type keys struct {
	p string // prefix
	// shards[k] is "P{T}" for the tag T of shard k.
	shards []string
	// legacy is "P{P events}", the tag of the earlier layout.
	legacy string
}

// MaxEventShards bounds Options.EventShards.
const MaxEventShards = 1024

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

func newKeys(prefix string, shards int) (keys, error) {
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("store: prefix %q must not contain '{' or '}' (they are cluster hash tags)", prefix)
	}
	if shards < 1 || shards > MaxEventShards {
		return keys{}, fmt.Errorf("store: %d event shards: want 1 to %d", shards, MaxEventShards)
	}
	k := keys{p: prefix, shards: make([]string, shards), legacy: prefix + "{" + prefix + "events}"}
	for i := range shards {
		k.shards[i] = prefix + "{" + shardTag(prefix, i, shards) + "}"
	}
	return k, nil
}

// shardTag is the hash tag of shard k of n: "<prefix>s<k>.<j>" with the
// smallest j ≥ 0 whose slot lies in [k·16384/n, (k+1)·16384/n).
func shardTag(prefix string, k, n int) string {
	lo, hi := k*clusterSlots/n, (k+1)*clusterSlots/n
	base := prefix + "s" + strconv.Itoa(k) + "."
	for j := 0; ; j++ {
		tag := base + strconv.Itoa(j)
		if s := int(crc16(tag)) % clusterSlots; s >= lo && s < hi {
			return tag
		}
	}
}

// keySlot is the Redis Cluster hash slot of key: CRC16 of its hash tag (the
// text between the first '{' and the next '}', when not empty) or of the
// whole key, mod 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % clusterSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum of
// Redis Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// shardOf is the shard of user's events: FNV-1a (32 bits) of the user ID,
// mod the number of shards.
func (k keys) shardOf(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % uint32(len(k.shards)))
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

func (k keys) layout() string { return k.p + "layout" }

func (k keys) eventLog(shard int) string           { return k.shards[shard] + ":log" }
func (k keys) eventID(shard int, id string) string { return k.shards[shard] + ":id:" + id }
func (k keys) history(user string) string {
	return k.shards[k.shardOf(user)] + ":hist:" + user
}
func (k keys) popOutcome(shard int) string  { return k.shards[shard] + ":pop:outcome" }
func (k keys) popExposure(shard int) string { return k.shards[shard] + ":pop:exposure" }
func (k keys) migrated(shard int) string    { return k.shards[shard] + ":migrated" }

// popKeys returns every shard's outcome counts, then every shard's
// exposure counts.
func (k keys) popKeys() []string {
	out := make([]string, 2*len(k.shards))
	for i := range k.shards {
		out[i], out[len(k.shards)+i] = k.popOutcome(i), k.popExposure(i)
	}
	return out
}

// The keys of the earlier, unsharded layout (read by Migrate).
func (k keys) legacyLog() string                { return k.legacy + ":log" }
func (k keys) legacyID(id string) string        { return k.legacy + ":id:" + id }
func (k keys) legacyHistory(user string) string { return k.legacy + ":hist:" + user }
func (k keys) legacyPopOutcome() string         { return k.legacy + ":pop:outcome" }
func (k keys) legacyPopExposure() string        { return k.legacy + ":pop:exposure" }
