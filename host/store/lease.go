package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Sentinel errors of the leases; check with errors.Is.
var (
	// ErrLeaseHeld: another holder has the lease. The wrapping
	// *LeaseHeldError says who and for how long.
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrFenced: the lease presented is no longer the current one (it
	// expired, was released or was taken by another holder since), so the
	// write it was to guard was refused.
	ErrFenced = errors.New("fenced out: the lease is no longer held")
)

// Lease is the right, for a while, to move the serving pointer of one
// name (see SetServingFenced). Leases of a name are numbered: every
// acquisition gets a fencing token greater than every token given before
// for that name, so a write made with a lease that has since expired and
// been taken again is recognised and refused.
type Lease struct {
	// Name is the serving name the lease guards.
	Name string `json:"name"`
	// Token is the fencing token: strictly increasing per name.
	Token int64 `json:"token"`
	// Holder names who took the lease: host, process id and a random
	// part, unique to this acquisition.
	Holder string `json:"holder"`
	// TTL is how long the lease lasts from its acquisition or its last
	// renewal.
	TTL time.Duration `json:"ttl"`
}

// LeaseHeldError is returned, wrapping ErrLeaseHeld, when a lease is
// held by another holder.
type LeaseHeldError struct {
	Name   string
	Holder string
	Token  int64
	// Remaining is the time left until the lease expires unless renewed.
	Remaining time.Duration
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q: held by %s (token %d) for %v more", e.Name, e.Holder, e.Token, e.Remaining.Round(time.Millisecond))
}

// Unwrap makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// The lease scripts each touch the keys of one serving name, which share
// one hash slot (see keys.lease). A lease key holds "<token> <holder>".

// acquireServingLeaseScript takes the lease when it is free: SET NX PX, with a
// token from INCR of the name's counter. KEYS: lease, counter. ARGV:
// holder, ttl in ms. Returns {token, ""} when taken, else {0, current
// value, remaining ms}.
var acquireServingLeaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t .. ' ' .. ARGV[1], 'NX', 'PX', ARGV[2])
return {t, ''}
`)

// renewServingLeaseScript extends the lease when it is still the caller's.
// KEYS: lease. ARGV: "<token> <holder>", ttl in ms. Returns 1 if renewed.
var renewServingLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseServingLeaseScript deletes the lease when it is still the caller's.
// KEYS: lease. ARGV: "<token> <holder>". Returns 1 if released.
var releaseServingLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// setServingFencedScript is setServingScript guarded by the lease: it
// writes only while the lease key holds the caller's lease and no greater
// token has written before (the "fence" field of the serving hash keeps
// the greatest). Tokens are unique per acquisition, so the token alone
// names the lease. KEYS: serving, lease. ARGV: new ID, token. Returns -1
// when fenced out, else 1 (0 if the ID was already served).
var setServingFencedScript = redis.NewScript(`
local held = redis.call('GET', KEYS[2])
if not held or string.match(held, '^(%d+) ') ~= ARGV[2] then return -1 end
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local tok = tonumber(ARGV[2])
if tok < fence then return -1 end
redis.call('HSET', KEYS[1], 'fence', ARGV[2])
local cur = redis.call('HGET', KEYS[1], 'current')
if cur == ARGV[1] then return 0 end
if cur then
  redis.call('HSET', KEYS[1], 'current', ARGV[1], 'previous', cur)
else
  redis.call('HSET', KEYS[1], 'current', ARGV[1])
end
return 1
`)

// checkLeaseName refuses names the lease keys cannot carry: the lease key
// puts the serving key in a hash tag, which a brace would cut.
func checkLeaseName(name string) error {
	if err := checkID("lease name", name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "{}") {
		return fmt.Errorf("lease name %q must not contain '{' or '}'", name)
	}
	return nil
}

// AcquireLease takes the lease of the serving name for ttl, with SET NX
// PX and a fencing token from INCR, in one script. When another holder
// has it, the error wraps ErrLeaseHeld and is a *LeaseHeldError saying
// for how long. A holder that stops renewing loses the lease when ttl
// runs out, and the next AcquireLease anywhere gets a greater token.
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (Lease, error) {
	if err := checkLeaseName(name); err != nil {
		return Lease{}, fmt.Errorf("acquire lease: %w", err)
	}
	if ttl < time.Millisecond {
		return Lease{}, fmt.Errorf("acquire lease %q: ttl %v is under a millisecond", name, ttl)
	}
	holder, err := newHolder()
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	res, err := acquireServingLeaseScript.Run(ctx, s.rdb, []string{s.k.lease(name), s.k.leaseCounter(name)}, holder, ttl.Milliseconds()).Slice()
	if err != nil {
		return Lease{}, s.wrap(fmt.Sprintf("acquire lease %q", name), err)
	}
	if len(res) < 2 {
		return Lease{}, fmt.Errorf("acquire lease %q: unexpected answer %v", name, res)
	}
	tok, _ := res[0].(int64)
	if tok == 0 {
		held := &LeaseHeldError{Name: name}
		cur, _ := res[1].(string)
		t, h, _ := strings.Cut(cur, " ")
		held.Token, _ = strconv.ParseInt(t, 10, 64)
		held.Holder = h
		if len(res) > 2 {
			if ms, ok := res[2].(int64); ok && ms > 0 {
				held.Remaining = time.Duration(ms) * time.Millisecond
			}
		}
		return Lease{}, held
	}
	return Lease{Name: name, Token: tok, Holder: holder, TTL: ttl}, nil
}

// value is what the lease key holds while l is the current lease.
func (l Lease) value() string { return strconv.FormatInt(l.Token, 10) + " " + l.Holder }

// RenewLease extends l by its TTL from now. When l is no longer the
// current lease (it expired, or another holder took it), it returns an
// error wrapping ErrFenced and the holder must stop acting on it.
func (s *Store) RenewLease(ctx context.Context, l Lease) error {
	ok, err := renewServingLeaseScript.Run(ctx, s.rdb, []string{s.k.lease(l.Name)}, l.value(), l.TTL.Milliseconds()).Int()
	if err != nil {
		return s.wrap(fmt.Sprintf("renew lease %q", l.Name), err)
	}
	if ok == 0 {
		return fmt.Errorf("renew lease %q (token %d): %w", l.Name, l.Token, ErrFenced)
	}
	return nil
}

// ReleaseLease gives l up so that another holder can take it at once. A
// lease that is no longer current is left alone (and nil returned): it
// has already gone.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	err := releaseServingLeaseScript.Run(ctx, s.rdb, []string{s.k.lease(l.Name)}, l.value()).Err()
	return s.wrap(fmt.Sprintf("release lease %q", l.Name), err)
}

// SetServingFenced is SetServing for the holder of the lease on the name
// with fencing token token: in one script it checks that the lease is
// still current (its key holds the token) and that no greater token has
// moved the pointer, then moves it. A stale lease's write is refused with
// an error wrapping ErrFenced, and nothing changes.
func (s *Store) SetServingFenced(ctx context.Context, name string, id uuid.UUID, token int64) error {
	if err := checkLeaseName(name); err != nil {
		return fmt.Errorf("set serving: %w", err)
	}
	m, err := s.loadModelMeta(ctx, id)
	if err != nil {
		return fmt.Errorf("set serving %q: %w", name, err)
	}
	if m.Name != name {
		return fmt.Errorf("set serving %q: model %s is named %q", name, id, m.Name)
	}
	n, err := setServingFencedScript.Run(ctx, s.rdb, []string{s.k.serving(name), s.k.lease(name)}, id.String(), token).Int()
	if err != nil {
		return s.wrap(fmt.Sprintf("set serving %q", name), err)
	}
	if n < 0 {
		return fmt.Errorf("set serving %q to %s with lease token %d: %w", name, id, token, ErrFenced)
	}
	return nil
}

// newHolder names a lease holder: host, process id and 8 random bytes.
func newHolder() (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("holder id: %w", err)
	}
	return fmt.Sprintf("%s/%d/%s", strings.ReplaceAll(host, " ", "_"), os.Getpid(), hex.EncodeToString(b[:])), nil
}

// lease is the key of the lease on the serving name: "P lease:<name>",
// hash-tagged with the serving key "P serving:<name>" (a key without a tag
// hashes whole, so the tag puts the lease in the serving key's slot and
// one script can read the lease and write the pointer on a Cluster).
func (k keys) lease(name string) string {
	return k.p + "lease:" + name + "{" + k.serving(name) + "}"
}

// leaseCounter is the key of the counter of the name's fencing tokens, in
// the same slot.
func (k keys) leaseCounter(name string) string {
	return k.p + "leasetoken:" + name + "{" + k.serving(name) + "}"
}

// ServingModel returns the record, without its bytes, of the model served
// under name, or an error wrapping ErrNotFound when none is.
func (s *Store) ServingModel(ctx context.Context, name string) (ModelRecord, error) {
	cur, _, err := s.Serving(ctx, name)
	if err != nil {
		return ModelRecord{}, err
	}
	return s.loadModelMeta(ctx, cur)
}
