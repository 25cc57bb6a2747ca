package telegram_test

import (
	"encoding/json"
	"testing"

	"github.com/asgigram/asgigram/telegram"
)

// TestChatKeyOneChatOneKey: every spelling of one chat_id gives one key.
func TestChatKeyOneChatOneKey(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`4343`, "4343"},
		{`"4343"`, "4343"},
		{`" 4343"`, "4343"},
		{`"4343 "`, "4343"},
		{`"\t4343\n"`, "4343"},
		{` 4343 `, "4343"},
		{`"+4343"`, "4343"},
		{`-1001234567890`, "-1001234567890"},
		{`"-1001234567890 "`, "-1001234567890"},
		{`"@ChannelName"`, "@channelname"},
		{`" @channelname"`, "@channelname"},
		{`"not a chat"`, "not a chat"},
	} {
		if got := telegram.ChatKey(json.RawMessage(tc.raw)); got != tc.want {
			t.Errorf("ChatKey(%s) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestParseChatID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4343", 4343, true},
		{" 4343 ", 4343, true},
		{"-100123", -100123, true},
		{"@name", 0, false},
		{"43 43", 0, false},
		{"", 0, false},
	} {
		got, ok := telegram.ParseChatID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseChatID(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
