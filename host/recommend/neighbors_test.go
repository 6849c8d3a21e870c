package recommend

import "testing"

func TestCooccurrence(t *testing.T) {
	got := cooccurrence(map[string][]string{"u1": {"a", "b", "c"}, "u2": {"a", "b"}, "u3": {"b", "b"}}, 1)
	if len(got["a"]) != 1 || got["a"][0].Item != "b" || got["a"][0].Score != 2 {
		t.Errorf("neighbours of a: %+v", got["a"])
	}
	if got["c"][0].Item != "a" || got["c"][0].Score != 1 {
		t.Errorf("neighbours of c: %+v (ties broken by id)", got["c"])
	}
}
