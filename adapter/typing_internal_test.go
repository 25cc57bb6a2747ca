package adapter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddressedToTheBot(t *testing.T) {
	const botID, username = 777, "Echo_bot"
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"private chat, plain text", `{"chat":{"id":5,"type":"private"},"text":"hi"}`, true},
		{"private chat, no text", `{"chat":{"id":5,"type":"private"},"photo":[]}`, true},
		{"channel", `{"chat":{"id":-1005,"type":"channel"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}`, false},
		{"group, plain text", `{"chat":{"id":-5,"type":"group"},"text":"hello all"}`, false},
		{"group, command", `{"chat":{"id":-5,"type":"group"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}`, true},
		{"supergroup, command for the bot", `{"chat":{"id":-1005,"type":"supergroup"},"text":"/start@echo_bot x","entities":[{"type":"bot_command","offset":0,"length":15}]}`, true},
		{"supergroup, command for another bot", `{"chat":{"id":-1005,"type":"supergroup"},"text":"/start@other_bot","entities":[{"type":"bot_command","offset":0,"length":16}]}`, false},
		{"group, mention", `{"chat":{"id":-5,"type":"group"},"text":"hey @echo_bot","entities":[{"type":"mention","offset":4,"length":9}]}`, true},
		{"group, mention after an emoji (UTF-16 offsets)", `{"chat":{"id":-5,"type":"group"},"text":"😀 @Echo_bot","entities":[{"type":"mention","offset":3,"length":9}]}`, true},
		{"group, mention of another", `{"chat":{"id":-5,"type":"group"},"text":"hey @someone","entities":[{"type":"mention","offset":4,"length":8}]}`, false},
		{"group, mention only as text", `{"chat":{"id":-5,"type":"group"},"text":"hey @echo_bot"}`, false},
		{"group, text_mention of the bot", `{"chat":{"id":-5,"type":"group"},"text":"hey Echo","entities":[{"type":"text_mention","offset":4,"length":4,"user":{"id":777}}]}`, true},
		{"group, text_mention of another", `{"chat":{"id":-5,"type":"group"},"text":"hey Bob","entities":[{"type":"text_mention","offset":4,"length":3,"user":{"id":8}}]}`, false},
		{"group, caption mention", `{"chat":{"id":-5,"type":"group"},"caption":"@echo_bot look","caption_entities":[{"type":"mention","offset":0,"length":9}]}`, true},
		{"group, reply to the bot", `{"chat":{"id":-5,"type":"group"},"text":"yes","reply_to_message":{"from":{"id":777}}}`, true},
		{"group, reply to another", `{"chat":{"id":-5,"type":"group"},"text":"yes","reply_to_message":{"from":{"id":8}}}`, false},
		{"group, entity out of range", `{"chat":{"id":-5,"type":"group"},"text":"hi","entities":[{"type":"mention","offset":1,"length":40}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m addressMessage
			require.NoError(t, json.Unmarshal([]byte(tt.msg), &m))
			assert.Equal(t, tt.want, m.addressedTo(botID, username))
		})
	}
}
