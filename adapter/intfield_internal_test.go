package adapter

import (
	"encoding/json"
	"testing"
)

// FuzzIntField holds intField to encoding/json decoding the same member
// into a *int64 struct field.
func FuzzIntField(f *testing.F) {
	for _, s := range []string{`{"update_id":1}`, `{"id":1,"ID":2}`, `{"i\u0064":1,"ID":null}`, `{"update_id":"1"}`, `null`, `{"UPDATE_ID":3,"update_id":1.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v struct {
			ID *int64 `json:"id"`
		}
		err := json.Unmarshal(b, &v)
		wantOK := err == nil && v.ID != nil
		got, ok := intField(b, "id")
		if ok != wantOK || (ok && got != *v.ID) {
			t.Fatalf("%q: id %d %v, want %v %v", b, got, ok, v.ID, err)
		}
		var w struct {
			UpdateID *int64 `json:"update_id"`
		}
		err = json.Unmarshal(b, &w)
		wantOK = err == nil && w.UpdateID != nil
		got, ok = intField(b, "update_id")
		if ok != wantOK || (ok && got != *w.UpdateID) {
			t.Fatalf("%q: update_id %d %v, want %v %v", b, got, ok, w.UpdateID, err)
		}
	})
}
