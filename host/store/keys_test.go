package store

import "testing"

func TestItemKeys(t *testing.T) {
	cases := []struct {
		prefix string
		ids    []string
	}{
		{"causalrec:", []string{"a", "bb", "", "ünï", "x:y"}},
		{"", []string{"only"}},
		{"p:", nil},
	}
	for _, c := range cases {
		k, err := newKeys(c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		got := k.itemKeys(c.ids)
		if len(got) != len(c.ids) {
			t.Fatalf("prefix %q: %d keys for %d ids", c.prefix, len(got), len(c.ids))
		}
		for i, id := range c.ids {
			if got[i] != k.item(id) {
				t.Errorf("prefix %q, id %q: key %q, want %q", c.prefix, id, got[i], k.item(id))
			}
		}
	}
}

func TestItemDecoder(t *testing.T) {
	var d itemDecoder
	cases := []struct {
		id, raw  string
		wantText string
		wantErr  bool
	}{
		{"a", `{"id":"a","text":"one"}`, "one", false},
		{"a", `{"id":"a","text":"one"}`, "one", false}, // from the cache
		{"a", `{"id":"a","text":"two"}`, "two", false}, // edited: decoded afresh
		{"b", `{"id":"b","text":"one"}`, "one", false},
		{"c", `{"id":`, "", true},
		{"a", `{"id":"a","text":"one"}`, "one", false}, // back to the first form
	}
	for i, c := range cases {
		it, err := d.decode(c.id, c.raw)
		if (err != nil) != c.wantErr || it.Text != c.wantText {
			t.Errorf("case %d: decode(%q, %q) = %+v, %v", i, c.id, c.raw, it, err)
		}
	}
	if len(d.byID) != 2 {
		t.Errorf("%d items kept, want 2", len(d.byID))
	}
}
