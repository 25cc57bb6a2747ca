package adapter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPlace: where polling continues after an answer, and in which id
// space its updates are.
func TestPlace(t *testing.T) {
	tests := []struct {
		name      string
		off       int64
		epoch     uint32
		ids       []int64
		want      Position
		wantReset bool
	}{
		{"no offset yet", 0, 0, []int64{500, 501}, Position{502, 0}, false},
		{"ids at the offset", 10, 2, []int64{10, 11, 12}, Position{13, 2}, false},
		{"an upward jump is ordinary", 10, 0, []int64{9000}, Position{9001, 0}, false},
		{"empty answer", 10, 1, nil, Position{10, 1}, false},
		{"ids below the offset: a new epoch", 5000, 0, []int64{1, 2, 3}, Position{4, 1}, true},
		{"one id just below", 5000, 3, []int64{4999}, Position{5000, 4}, true},
		{"the answer's highest id wins, unsorted", 5000, 0, []int64{7, 3, 5}, Position{8, 1}, true},
		{"below and above: the answer is the truth", 100, 0, []int64{90, 150}, Position{151, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			a.epoch.Store(tt.epoch)
			ups := make([]Update, len(tt.ids))
			for i, id := range tt.ids {
				ups[i] = Update{ID: id}
			}
			got, reset := a.place(tt.off, ups)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantReset, reset)
			for _, u := range ups {
				assert.Equal(t, tt.want.Epoch, u.Epoch, "update %d carries the answer's epoch", u.ID)
			}
			assert.Equal(t, tt.epoch, a.epoch.Load(), "place does not move the adapter")
		})
	}
}

func TestWebhookIDNamesTheEpochFromOne(t *testing.T) {
	a := New(Options{})
	a.mapper.BotID = 123
	assert.Equal(t, "tg-123-42", a.webhookID(42, 0), "epoch 0: the rule from before epochs")
	assert.Equal(t, "tg-123-e1-42", a.webhookID(42, 1))
	assert.Equal(t, "tg-123-e17-42", a.webhookID(42, 17))
}

func TestEnvelopeCarriesTheEpochFromOne(t *testing.T) {
	ev := Event{UpdateID: 42, Scope: ScopeRef{JSON: []byte(`{}`)}, JSON: []byte(`{}`)}
	assert.JSONEq(t, `{"scope":{},"event":{},"update_id":42,"token":"t","send_url":"u"}`, string(envelope(ev, "t", "u")))
	ev.Epoch = 3
	assert.JSONEq(t, `{"scope":{},"event":{},"update_id":42,"update_epoch":3,"token":"t","send_url":"u"}`, string(envelope(ev, "t", "u")))
}
