package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// check compares the scanner with encoding/json on one input: validity,
// the members of an object (keys decoded, the last duplicate winning, as a
// map decode keeps them) and the elements of an array.
func check(t *testing.T, b []byte) {
	t.Helper()
	if got, want := Valid(b), json.Valid(b); got != want {
		t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
	}

	var want map[string]json.RawMessage
	err := json.Unmarshal(b, &want)
	isObject := err == nil && want != nil
	members, ok := AppendMembers(nil, b)
	if ok != isObject {
		t.Fatalf("AppendMembers(%q) ok = %v, encoding/json: err %v, map %v", b, ok, err, want)
	}
	if ok {
		got := make(map[string]json.RawMessage, len(members))
		for _, m := range members {
			var key string
			if err := json.Unmarshal([]byte(`"`+string(m.Key)+`"`), &key); err != nil {
				t.Fatalf("key %q does not decode: %v", m.Key, err)
			}
			if m.Plain {
				if key != string(m.Key) {
					t.Fatalf("plain key %q decodes to %q", m.Key, key)
				}
				if enc, _ := json.Marshal(key); !bytes.Equal(enc, []byte(`"`+key+`"`)) {
					t.Fatalf("plain key %q encodes as %s", key, enc)
				}
			}
			got[key] = m.Value
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d keys, encoding/json %d", b, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("%q: key %q is %q, encoding/json %q", b, k, got[k], v)
			}
		}
		for _, m := range members {
			if AllPlain(members) && !bytes.Equal(Last(members, string(m.Key)), want[string(m.Key)]) {
				t.Fatalf("%q: Last(%q) is %q, encoding/json %q", b, m.Key, Last(members, string(m.Key)), want[string(m.Key)])
			}
		}
	}

	var wantElems []json.RawMessage
	err = json.Unmarshal(b, &wantElems)
	isArray := err == nil && wantElems != nil
	elems, ok := AppendElements([][]byte(nil), b)
	if ok != isArray {
		t.Fatalf("AppendElements(%q) ok = %v, encoding/json: err %v", b, ok, err)
	}
	if ok {
		if len(elems) != len(wantElems) {
			t.Fatalf("%q: %d elements, encoding/json %d", b, len(elems), len(wantElems))
		}
		for i := range elems {
			if !bytes.Equal(elems[i], wantElems[i]) {
				t.Fatalf("%q: element %d is %q, encoding/json %q", b, i, elems[i], wantElems[i])
			}
		}
	}
}

var cases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `null`, `true`, `false`, `nul`, `tru`, `fals`, `truex`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `.5`, `+1`, `-01`, `123456789012345678901234567890`,
	`""`, `"a"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"\x01\"", "\"\x7f\"", "\"\xff\"", `"abc`, `"\`,
	`{"a":1}`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":1,"a":2}`, `{"a":1}x`, `{"a":1}}`,
	`{"k\"ey":{"t\\ype":1}}`, `{"<a>":1}`, `{"ключ":{"type":"ü"}}`, `{"\u0061":1,"a":2}`, `{"a":2,"\u0061":1}`,
	`[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[{"a":[1,{"b":null}]}]`, `[1]]`, "[1,\n2]\t",
	`{"update_id":1,"message":{"message_id":5,"chat":{"id":-100,"type":"supergroup"},"text":"hi \ud83d\ude00"}}`,
}

func TestAgainstEncodingJSON(t *testing.T) {
	for _, c := range cases {
		check(t, []byte(c))
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	check(t, []byte(deep))
	check(t, []byte("["+deep+"]"))
	check(t, []byte(`{"a":`+deep+`}`))
	check(t, []byte(`{"a":[`+deep+`]}`))
}

func TestMembersAreSubslices(t *testing.T) {
	b := []byte(` {"update_id": 7 , "message" : {"chat":{"id":1}} } `)
	members, ok := AppendMembers(nil, b)
	if !ok || len(members) != 2 {
		t.Fatalf("members %+v ok %v", members, ok)
	}
	if string(members[0].Key) != "update_id" || string(members[0].Value) != "7" || !members[0].Plain {
		t.Fatalf("first member %+v", members[0])
	}
	if string(Last(members, "message")) != `{"chat":{"id":1}}` || Last(members, "nope") != nil {
		t.Fatalf("Last: %q", Last(members, "message"))
	}
	members[1].Value[0] = '['
	if b[bytes.IndexByte(b, '[')] != '[' {
		t.Fatal("values are not subslices of the input")
	}
}

func FuzzAgainstEncodingJSON(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { check(t, b) })
}
