package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// The tests of this file run several causalrec serve processes, built
// from this package, on one store, as replicas behind a load balancer
// would.

var (
	builtOnce sync.Once
	builtBin  string
	builtErr  error
	builtDir  string
)

// causalrecBinary builds the causalrec command once per test binary and
// returns its path (removed by TestMain at the end).
func causalrecBinary(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		gocmd, err := exec.LookPath("go")
		if err != nil {
			builtErr = err
			return
		}
		if builtDir, builtErr = os.MkdirTemp("", "causalrec-replicas-"); builtErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "causalrec")
		out, err := exec.Command(gocmd, "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			builtErr = errors.New(err.Error() + ": " + string(out))
		}
	})
	if builtErr != nil {
		t.Fatalf("building causalrec for the replica tests: %v", builtErr)
	}
	return builtBin
}

// replica is a causalrec serve process.
type replica struct {
	name string
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

// logText returns what the process has logged so far.
func (r *replica) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// count counts the log lines that contain s.
func (r *replica) count(s string) int {
	n := 0
	for _, l := range strings.Split(r.logText(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

var servingLine = regexp.MustCompile(`msg=serving http=(\S+)`)

// startReplica starts causalrec serve on the test's store with the config
// file and the extra flags, and waits until it answers; the process is
// killed when the test ends.
func startReplica(t *testing.T, name, prefix, config string, flags ...string) *replica {
	t.Helper()
	args := append([]string{"serve", "--redis", redisURL(), "--prefix", prefix, "--config", config, "--http", "127.0.0.1:0", "--grpc", "off"}, flags...)
	r := &replica{name: name, cmd: exec.Command(causalrecBinary(t), args...), done: make(chan struct{})}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.log.WriteString(line + "\n")
			r.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = r.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("log of %s (pid %d):\n%s", r.name, r.cmd.Process.Pid, r.logText())
		}
	})
	select {
	case a := <-addr:
		r.base = "http://" + a
	case <-r.done:
		t.Fatalf("%s exited at start:\n%s", name, r.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within 60s:\n%s", name, r.logText())
	}
	return r
}

// replicaConfig writes the config file of the replica tests: no text
// features (the training then needs only the estimator plugin).
func replicaConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(`{"text_features": "off"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplicasServeOneModel: two serve processes on one store. A model
// trained through one is served by the other from its next request
// (measured: within 1 s), and the same request with the same request_id
// gets the same list from both.
func TestReplicasServeOneModel(t *testing.T) {
	prefix, cfg := testPrefix(t), replicaConfig(t)
	a := startReplica(t, "a", prefix, cfg)
	b := startReplica(t, "b", prefix, cfg)
	ingestUsers(t, a.base, "", 200)
	postEvents(t, a.base, "", simulatedEvents(200, 0))

	for i, tc := range []struct{ trainer, other *replica }{{a, b}, {b, a}} {
		var res recommend.TrainResult
		if code, body := call(t, "POST", tc.trainer.base+"/v1/train", "", nil, &res); code != 200 {
			t.Fatalf("train through %s: %d %s", tc.trainer.name, code, body)
		}
		trained := time.Now()
		var got recommend.Response
		for {
			if code, body := call(t, "POST", tc.other.base+"/v1/recommend", "", recommend.Request{User: "u1", IncludeConsumed: true}, &got); code != 200 {
				t.Fatalf("recommend through %s: %d %s", tc.other.name, code, body)
			}
			if got.ModelID == res.ModelID.String() {
				break
			}
			if time.Since(trained) > 5*time.Second {
				t.Fatalf("training %d: %s still serves %q (%+v), not %s, 5s after the training through %s", i, tc.other.name, got.ModelID, got, res.ModelID, tc.trainer.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(trained)
		t.Logf("model %s trained through %s served by %s after %v", res.ModelID, tc.trainer.name, tc.other.name, took)
		if took > time.Second {
			t.Errorf("model picked up by %s %v after the training, want within 1s", tc.other.name, took)
		}
	}

	// The same request, with the same id, to both: the same list. The
	// policy draws at random, so without the id the lists differ.
	id := uuid.NewString()
	req := recommend.Request{User: "u3", K: 2, IncludeConsumed: true, Policy: recommend.PolicyPlackettLuce, Temperature: 5, RequestID: id}
	var first recommend.Response
	for i, r := range []*replica{a, b, a, b} {
		var got recommend.Response
		if code, body := call(t, "POST", r.base+"/v1/recommend", "", req, &got); code != 200 {
			t.Fatalf("recommend through %s: %d %s", r.name, code, body)
		}
		if got.RequestID != id || got.ModelID == "" {
			t.Fatalf("answer of %s: request_id %q, model %q; want %s and a model", r.name, got.RequestID, got.ModelID, id)
		}
		if i == 0 {
			first = got
			continue
		}
		if !slices.EqualFunc(got.Items, first.Items, func(x, y recommend.Ranked) bool {
			return x.Item == y.Item && x.Propensity == y.Propensity && x.Score == y.Score
		}) {
			t.Errorf("request %s through %s: %+v; through a: %+v", id, r.name, got.Items, first.Items)
		}
	}
	if code, body := call(t, "POST", a.base+"/v1/recommend", "", recommend.Request{User: "u3", RequestID: "r-1"}, nil); code != 400 || !strings.Contains(body, "request_id") {
		t.Errorf("a request_id that is not a UUID: %d %s, want 400", code, body)
	}
}

// leaseValue reads the retraining lease of the test's store: its token,
// the holder's process id and the time left (0, 0, 0 when free).
func leaseValue(t *testing.T, prefix string) (token int64, pid int, ttl time.Duration) {
	t.Helper()
	rdb := redistest.Client(t)
	ctx := context.Background()
	key := prefix + "lease:" + recommend.ModelName + "{" + prefix + "serving:" + recommend.ModelName + "}"
	v, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return 0, 0, 0
	}
	tok, holder, _ := strings.Cut(v, " ")
	parts := strings.Split(holder, "/")
	if len(parts) != 3 {
		t.Fatalf("lease value %q: want \"<token> <host>/<pid>/<random>\"", v)
	}
	token, _ = strconv.ParseInt(tok, 10, 64)
	pid, _ = strconv.Atoi(parts[1])
	ttl, _ = rdb.PTTL(ctx, key).Result()
	return token, pid, ttl
}

// servingFence returns the greatest lease token that moved the serving
// pointer of the test's store.
func servingFence(t *testing.T, prefix string) int64 {
	t.Helper()
	f, err := redistest.Client(t).HGet(context.Background(), prefix+"serving:"+recommend.ModelName, "fence").Int64()
	if err != nil {
		return 0
	}
	return f
}

// servingOf returns the serving model of the store and its creation time.
func servingOf(t *testing.T, st *store.Store) (uuid.UUID, time.Time) {
	t.Helper()
	m, err := st.ServingModel(context.Background(), recommend.ModelName)
	if errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, time.Time{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.ID, m.CreatedAt
}

// TestReplicasRetrainWithOneLeaseHolder: serve processes with a retraining
// schedule on one store. They race for the lease and one trains at a
// time, once per period between them; a holder SIGKILLed while it trains
// is replaced once its lease expires; a holder stopped (SIGSTOP) past its
// lease cannot move the serving pointer when it resumes.
func TestReplicasRetrainWithOneLeaseHolder(t *testing.T) {
	const every, leaseTTL = time.Second, 2 * time.Second
	prefix, cfg := testPrefix(t), replicaConfig(t)
	st, err := store.New(redistest.Client(t), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--retrain-every", every.String(), "--train-lease", leaseTTL.String()}
	replicas := map[int]*replica{}
	add := func(name string) *replica {
		r := startReplica(t, name, prefix, cfg, flags...)
		replicas[r.cmd.Process.Pid] = r
		return r
	}
	a := add("a")
	add("b")
	// Enough rows that a training takes a while (the lease is held
	// meanwhile).
	ingestUsers(t, a.base, "", 3000)
	postEvents(t, a.base, "", simulatedEvents(3000, 0))

	// The race: over several periods, each training done by one process
	// and the models a period apart.
	waitModels := func(n int, within time.Duration) []store.ModelRecord {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			ms, err := st.ListModels(context.Background(), recommend.ModelName)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) >= n {
				return ms
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d models after %v, want %d", len(ms), within, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	models := waitModels(4, 60*time.Second)
	done := 0
	for _, r := range replicas {
		done += r.count("scheduled retraining done")
	}
	for i := 1; i < len(models); i++ {
		if gap := models[i].CreatedAt.Sub(models[i-1].CreatedAt); gap < every-50*time.Millisecond {
			t.Errorf("models %d and %d were trained %v apart, less than the period %v: two processes trained at once", i-1, i, gap, every)
		}
	}
	held := 0
	for _, r := range replicas {
		held += r.count("another process holds the lease")
	}
	t.Logf("%d models, %d trainings logged, %d looks that found the lease held", len(models), done, held)

	// Kill the holder while it trains: nobody moves the serving pointer
	// until its lease expires, then the survivor trains.
	var killedToken int64
	var expiry time.Time
	for attempt := 0; killedToken == 0; attempt++ {
		if attempt == 10 {
			t.Fatal("could not catch a holder while it trains in 10 attempts")
		}
		deadline := time.Now().Add(10 * time.Second)
		var tok int64
		var pid int
		for tok == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no process took the lease within 10s")
			}
			tok, pid, _ = leaseValue(t, prefix)
		}
		r := replicas[pid]
		if r == nil {
			t.Fatalf("the lease is held by pid %d, not one of the replicas", pid)
		}
		if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-r.done
		delete(replicas, pid)
		if after, _, ttl := leaseValue(t, prefix); after == tok && ttl > 0 {
			killedToken, expiry = tok, time.Now().Add(ttl)
			t.Logf("killed %s (pid %d) holding lease token %d, %v before it expires", r.name, pid, tok, ttl)
		} else {
			t.Logf("%s (pid %d) released the lease before the kill landed; again", r.name, pid)
		}
		add("replacement-" + strconv.Itoa(attempt))
	}
	before, _ := servingOf(t, st)
	for time.Now().Before(expiry.Add(-50 * time.Millisecond)) {
		if cur, _ := servingOf(t, st); cur != before {
			t.Fatalf("the serving model changed to %s while the killed holder's lease had not expired", cur)
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if cur, _ := servingOf(t, st); cur != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no process took over the training within 30s of the killed holder's lease expiring")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tok, _, _ := leaseValue(t, prefix); tok != 0 && tok <= killedToken {
		t.Errorf("the lease after the takeover has token %d, not greater than the killed holder's %d", tok, killedToken)
	}

	// Stop a holder (SIGSTOP) while it trains, past its lease: another
	// takes over and serves its model; the stopped one, resumed, learns
	// that it lost the lease and moves nothing.
	var stopped *replica
	var stoppedToken int64
	for attempt := 0; stopped == nil; attempt++ {
		if attempt == 10 {
			t.Fatal("could not catch a holder while it trains in 10 attempts")
		}
		var tok int64
		var pid int
		deadline := time.Now().Add(10 * time.Second)
		for tok == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no process took the lease within 10s")
			}
			tok, pid, _ = leaseValue(t, prefix)
		}
		r := replicas[pid]
		if r == nil {
			t.Fatalf("the lease is held by pid %d, not one of the replicas", pid)
		}
		if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // a write it had sent lands
		// Stopped while it holds the lease and before it moved the
		// pointer with it (the serving hash's fence is the greatest
		// token that did).
		if after, _, ttl := leaseValue(t, prefix); after == tok && ttl > 0 && servingFence(t, prefix) < tok {
			stopped, stoppedToken = r, tok
			t.Logf("stopped %s (pid %d) holding lease token %d", r.name, pid, tok)
			break
		}
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
	}
	cur, _ := servingOf(t, st)
	deadline = time.Now().Add(30 * time.Second)
	for {
		next, _ := servingOf(t, st)
		if next != cur {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no process took over from the stopped holder within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	takenOver, _ := servingOf(t, st)
	t.Logf("model %s served after the takeover from the stopped holder", takenOver)
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	// Stopped between taking the lease and training, it finds the
	// model the other trained and gives the lease back instead.
	for stopped.count("lost the lease") == 0 && stopped.count("fenced out") == 0 && stopped.count("trained meanwhile") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the resumed holder did not report losing its lease within 30s:\n%s", stopped.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range strings.Split(stopped.logText(), "\n") {
		if strings.Contains(l, "lost the lease") || strings.Contains(l, "fenced out") || strings.Contains(l, "trained meanwhile") {
			t.Logf("the resumed holder: %s", l)
		}
	}
	if countToken(stopped, stoppedToken) > 0 {
		t.Errorf("the resumed holder reports its training with lease token %d done", stoppedToken)
	}
}

// countToken counts r's log lines of a finished scheduled retraining with
// lease token tok.
func countToken(r *replica, tok int64) int {
	n := 0
	for _, l := range strings.Split(r.logText(), "\n") {
		if strings.Contains(l, "scheduled retraining done") && strings.Contains(l, " token="+strconv.FormatInt(tok, 10)) {
			n++
		}
	}
	return n
}
