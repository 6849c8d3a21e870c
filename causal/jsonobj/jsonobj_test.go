package jsonobj

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name, doc, key string
		ok             bool
		value          string
		rest           map[string]any // rest decoded by encoding/json
	}{
		{"bulk last", `{"a":1,"b":"x","model":"QUJD"}`, "model", true, `"QUJD"`, map[string]any{"a": 1.0, "b": "x"}},
		{"bulk first, spaces", " { \"model\" : {\"p\":[1,{\"q\":\"}\"}]} ,\n\"a\" : [1, 2] } \n", "model", true, `{"p":[1,{"q":"}"}]}`, map[string]any{"a": []any{1.0, 2.0}}},
		{"escaped quote in a value", `{"s":"a\"b\\","model":null}`, "model", true, `null`, map[string]any{"s": `a"b\`}},
		{"only the bulk", `{"model":"x"}`, "model", true, `"x"`, map[string]any{}},
		{"no such key", `{"a":1}`, "model", false, "", nil},
		{"key twice", `{"model":1,"model":2}`, "model", false, "", nil},
		{"key in another case", `{"model":1,"Model":2}`, "model", false, "", nil},
		{"escaped key", `{"mod\u0065l":1}`, "model", false, "", nil},
		{"empty object", `{}`, "model", false, "", nil},
		{"not an object", `["model"]`, "model", false, "", nil},
		{"unterminated string", `{"model":"abc}`, "model", false, "", nil},
		{"unterminated object", `{"model":{"a":1}`, "model", false, "", nil},
		{"trailing garbage", `{"model":1} x`, "model", false, "", nil},
		{"missing colon", `{"model" 1}`, "model", false, "", nil},
		{"missing comma", `{"a":1 "model":2}`, "model", false, "", nil},
		{"missing value", `{"a":,"model":2}`, "model", false, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			value, rest, ok := Split([]byte(tc.doc), tc.key)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if string(value) != tc.value {
				t.Errorf("value %s, want %s", value, tc.value)
			}
			var got map[string]any
			if err := json.Unmarshal(rest, &got); err != nil {
				t.Fatalf("rest %s: %v", rest, err)
			}
			if !reflect.DeepEqual(got, tc.rest) {
				t.Errorf("rest %v, want %v", got, tc.rest)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ok        bool
		want      []string
	}{
		{"two", `["QUJD", "REVG"]`, true, []string{"QUJD", "REVG"}},
		{"empty", ` [ ] `, true, []string{}},
		{"escape", `["a\/b"]`, false, nil},
		{"number", `["a",1]`, false, nil},
		{"unterminated", `["a"`, false, nil},
		{"trailing comma", `["a",]`, false, nil},
		{"trailing garbage", `["a"]]`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Strings([]byte(tc.doc))
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			s := make([]string, len(got))
			for i, g := range got {
				s[i] = string(g)
			}
			if !reflect.DeepEqual(s, tc.want) {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		ok   bool
		want string
	}{
		{`"QUJD"`, true, "QUJD"},
		{`""`, true, ""},
		{`"a\/b"`, false, ""},
		{`"a" `, false, ""},
		{`"a"b"`, false, ""},
		{`null`, false, ""},
		{`"`, false, ""},
	} {
		got, ok := String([]byte(tc.doc))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("String(%s) = %q, %v; want %q, %v", tc.doc, got, ok, tc.want, tc.ok)
		}
	}
}
