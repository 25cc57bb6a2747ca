package telegram_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/asgigram/asgigram/telegram"
)

func TestLookupMethodIsCaseInsensitive(t *testing.T) {
	for _, name := range []string{"sendMessage", "sendmessage", "SENDMESSAGE", "SendMessage", "sEnDmEsSaGe"} {
		m, ok := telegram.LookupMethod(name)
		if !ok {
			t.Errorf("LookupMethod(%q): not found", name)
			continue
		}
		if m.Name != "sendMessage" {
			t.Errorf("LookupMethod(%q).Name = %q, want the Bot API spelling %q", name, m.Name, "sendMessage")
		}
	}
}

func TestLookupMethodUnknown(t *testing.T) {
	for _, name := range []string{"", "sendMessages", "send_message", "noSuchMethod"} {
		if m, ok := telegram.LookupMethod(name); ok {
			t.Errorf("LookupMethod(%q) = %+v, want not found", name, m)
		}
	}
}

func TestKnownMethodFacts(t *testing.T) {
	tests := []struct {
		name string
		want telegram.MethodInfo
	}{
		{"getUpdates", telegram.MethodInfo{Name: "getUpdates"}},
		{"getMe", telegram.MethodInfo{Name: "getMe"}},
		{"sendMessage", telegram.MethodInfo{Name: "sendMessage", ChatID: telegram.ChatIDRequired, BusinessConnection: true}},
		{"sendMessageDraft", telegram.MethodInfo{Name: "sendMessageDraft", ChatID: telegram.ChatIDRequired}},
		{"answerCallbackQuery", telegram.MethodInfo{Name: "answerCallbackQuery"}},
		{"answerInlineQuery", telegram.MethodInfo{Name: "answerInlineQuery"}},
		{"getFile", telegram.MethodInfo{Name: "getFile"}},
		{"getUserProfilePhotos", telegram.MethodInfo{Name: "getUserProfilePhotos"}},
		{"editMessageText", telegram.MethodInfo{Name: "editMessageText", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true}},
		{"editMessageReplyMarkup", telegram.MethodInfo{Name: "editMessageReplyMarkup", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true}},
		{"stopMessageLiveLocation", telegram.MethodInfo{Name: "stopMessageLiveLocation", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true}},
		{"setGameScore", telegram.MethodInfo{Name: "setGameScore", ChatID: telegram.ChatIDRequired, InlineMessageID: true}},
		{"getGameHighScores", telegram.MethodInfo{Name: "getGameHighScores", ChatID: telegram.ChatIDRequired, InlineMessageID: true}},
		{"setChatMenuButton", telegram.MethodInfo{Name: "setChatMenuButton", ChatID: telegram.ChatIDOptional}},
		{"getChatMenuButton", telegram.MethodInfo{Name: "getChatMenuButton", ChatID: telegram.ChatIDOptional}},
		{"sendGift", telegram.MethodInfo{Name: "sendGift", ChatID: telegram.ChatIDOptional}},
		{"forwardMessage", telegram.MethodInfo{Name: "forwardMessage", ChatID: telegram.ChatIDRequired}},
		{"sendChecklist", telegram.MethodInfo{Name: "sendChecklist", ChatID: telegram.ChatIDRequired, BusinessConnection: true}},
		{"readBusinessMessage", telegram.MethodInfo{Name: "readBusinessMessage", ChatID: telegram.ChatIDRequired, BusinessConnection: true}},
		{"deleteBusinessMessages", telegram.MethodInfo{Name: "deleteBusinessMessages", BusinessConnection: true}},
		{"transferGift", telegram.MethodInfo{Name: "transferGift", BusinessConnection: true}},
		{"sendInvoice", telegram.MethodInfo{Name: "sendInvoice", ChatID: telegram.ChatIDRequired}},
		{"deleteMessage", telegram.MethodInfo{Name: "deleteMessage", ChatID: telegram.ChatIDRequired}},
	}
	for _, tt := range tests {
		got, ok := telegram.LookupMethod(tt.name)
		if !ok {
			t.Errorf("LookupMethod(%q): not found", tt.name)
			continue
		}
		if got != tt.want {
			t.Errorf("LookupMethod(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestEveryMethodListedIsFound(t *testing.T) {
	all := telegram.Methods()
	if len(all) < 180 {
		t.Fatalf("catalogue has %d methods; Bot API 10.1 alone has 180", len(all))
	}
	for _, m := range all {
		got, ok := telegram.LookupMethod(m.Name)
		if !ok || got != m {
			t.Errorf("LookupMethod(%q) = %+v, %v; want %+v, true", m.Name, got, ok, m)
		}
	}
}

func TestNoDuplicateMethods(t *testing.T) {
	seen := make(map[string]string)
	for _, m := range telegram.Methods() {
		key := strings.ToLower(m.Name)
		if prev, dup := seen[key]; dup {
			t.Errorf("duplicate method %q (already listed as %q)", m.Name, prev)
		}
		seen[key] = m.Name
	}
}

var lowerCamel = regexp.MustCompile(`^[a-z]+(?:[A-Z][a-z0-9]*)*$`)

func TestMethodNamesAreLowerCamelCase(t *testing.T) {
	for _, m := range telegram.Methods() {
		if !lowerCamel.MatchString(m.Name) {
			t.Errorf("method name %q is not lowerCamelCase", m.Name)
		}
	}
}

func TestMethodRulesAreConsistent(t *testing.T) {
	for _, m := range telegram.Methods() {
		switch m.ChatID {
		case telegram.ChatIDNone, telegram.ChatIDRequired, telegram.ChatIDOptional:
		default:
			t.Errorf("%s: unknown ChatID rule %d", m.Name, m.ChatID)
		}
		// inline_message_id only ever stands in for a chat_id (+ message_id).
		if m.InlineMessageID && m.ChatID != telegram.ChatIDRequired {
			t.Errorf("%s: InlineMessageID set but ChatID is %d, want ChatIDRequired", m.Name, m.ChatID)
		}
	}
}

func TestMethodsReturnsACopy(t *testing.T) {
	a := telegram.Methods()
	a[0].Name = "changed"
	if b := telegram.Methods(); b[0].Name == "changed" {
		t.Fatal("Methods exposes the catalogue itself; it must return a copy")
	}
}
