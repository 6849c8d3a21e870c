package causal

import "testing"

// reload saves m with Marshal and loads it back with Unmarshal, failing the
// test on either error.
func reload(t *testing.T, m Kinded) any {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
