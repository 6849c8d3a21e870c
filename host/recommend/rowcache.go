package recommend

import (
	"sync"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
)

// rowPool recycles the feature-row buffers of requests: a request's rows
// are dead once the model has scored them.
var rowPool sync.Pool

// rowBuffer returns a zeroed buffer of n values, from rowPool when it holds
// one large enough.
func rowBuffer(n int) []float64 {
	if p, ok := rowPool.Get().(*[]float64); ok && cap(*p) >= n {
		x := (*p)[:n]
		clear(x)
		return x
	}
	return make([]float64, n)
}

// itemRows caches the item columns (featurePlan.itemCols) of the feature
// rows of items under one serving model, catalog token and generation of
// the text-scorer versions: until one of them changes, the columns are the
// same for every request.
type itemRows struct {
	model   uuid.UUID
	token   string
	textGen uint64

	mu   sync.RWMutex
	rows map[string][]float64
}

// maxItemRows bounds the rows an itemRows keeps.
const maxItemRows = 100_000

// itemRowCache returns the cache for the model under token, a new one when
// the token or the text generation changed; nil when token is empty (the
// catalog is not cached). Each model has its own, so that the arms of an
// experiment do not evict each other's.
func (r *Ranker) itemRowCache(m *servingModel, token string) *itemRows {
	if token == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.itemRows[m.id]
	if c == nil || c.token != token || c.textGen != r.textGen {
		c = &itemRows{model: m.id, token: token, textGen: r.textGen, rows: map[string][]float64{}}
		if r.itemRows == nil || len(r.itemRows) > maxOtherModels {
			r.itemRows = map[uuid.UUID]*itemRows{}
		}
		r.itemRows[m.id] = c
	}
	return c
}

// get copies the cached item columns of items into their rows of x (d
// columns each) and returns the indices of the items it holds none for.
func (c *itemRows) get(items []store.Item, x []float64, d int) []int {
	var missing []int
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, it := range items {
		if row, ok := c.rows[it.ID]; ok {
			copy(x[i*d:(i+1)*d], row)
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

// put adds rows by item id, while the cache has room.
func (c *itemRows) put(rows map[string][]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, row := range rows {
		if len(c.rows) >= maxItemRows {
			return
		}
		c.rows[id] = row
	}
}
