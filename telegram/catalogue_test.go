package telegram_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

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
		{"getUpdates", telegram.MethodInfo{Name: "getUpdates", Safe: true, Refused: true}},
		{"getMe", telegram.MethodInfo{Name: "getMe", Safe: true}},
		{"sendMessage", telegram.MethodInfo{Name: "sendMessage", ChatID: telegram.ChatIDRequired, BusinessConnection: true, Paced: true}},
		{"sendMessageDraft", telegram.MethodInfo{Name: "sendMessageDraft", ChatID: telegram.ChatIDRequired}},
		{"answerCallbackQuery", telegram.MethodInfo{Name: "answerCallbackQuery", Safe: true}},
		{"answerInlineQuery", telegram.MethodInfo{Name: "answerInlineQuery", Safe: true}},
		{"getFile", telegram.MethodInfo{Name: "getFile", Safe: true}},
		{"getUserProfilePhotos", telegram.MethodInfo{Name: "getUserProfilePhotos", Safe: true}},
		{"editMessageText", telegram.MethodInfo{Name: "editMessageText", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true}},
		{"editMessageReplyMarkup", telegram.MethodInfo{Name: "editMessageReplyMarkup", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true}},
		{"stopMessageLiveLocation", telegram.MethodInfo{Name: "stopMessageLiveLocation", ChatID: telegram.ChatIDRequired, InlineMessageID: true, BusinessConnection: true}},
		{"setGameScore", telegram.MethodInfo{Name: "setGameScore", ChatID: telegram.ChatIDRequired, InlineMessageID: true, Safe: true}},
		{"getGameHighScores", telegram.MethodInfo{Name: "getGameHighScores", ChatID: telegram.ChatIDRequired, InlineMessageID: true, Safe: true}},
		{"setChatMenuButton", telegram.MethodInfo{Name: "setChatMenuButton", ChatID: telegram.ChatIDOptional, Safe: true}},
		{"getChatMenuButton", telegram.MethodInfo{Name: "getChatMenuButton", ChatID: telegram.ChatIDOptional, Safe: true}},
		{"sendGift", telegram.MethodInfo{Name: "sendGift", ChatID: telegram.ChatIDOptional, Paced: true}},
		{"forwardMessage", telegram.MethodInfo{Name: "forwardMessage", ChatID: telegram.ChatIDRequired, Paced: true}},
		{"sendChecklist", telegram.MethodInfo{Name: "sendChecklist", ChatID: telegram.ChatIDRequired, BusinessConnection: true, Paced: true}},
		{"readBusinessMessage", telegram.MethodInfo{Name: "readBusinessMessage", ChatID: telegram.ChatIDRequired, BusinessConnection: true}},
		{"deleteBusinessMessages", telegram.MethodInfo{Name: "deleteBusinessMessages", BusinessConnection: true, Safe: true}},
		{"transferGift", telegram.MethodInfo{Name: "transferGift", BusinessConnection: true}},
		{"sendInvoice", telegram.MethodInfo{Name: "sendInvoice", ChatID: telegram.ChatIDRequired, Paced: true}},
		{"deleteMessage", telegram.MethodInfo{Name: "deleteMessage", ChatID: telegram.ChatIDRequired, Safe: true}},
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

func TestSafe(t *testing.T) {
	tests := []struct {
		method string
		safe   bool
	}{
		// get*, answer*, edit*, delete*, set*, sendChatAction (docs/protocol.md "Retries of outbound calls")
		{"getMe", true},
		{"getUpdates", true},
		{"getChat", true},
		{"getFile", true},
		{"answerCallbackQuery", true},
		{"answerInlineQuery", true},
		{"answerPreCheckoutQuery", true},
		{"answerShippingQuery", true},
		{"answerWebAppQuery", true},
		{"editMessageText", true},
		{"editMessageCaption", true},
		{"editMessageReplyMarkup", true},
		{"editMessageLiveLocation", true},
		{"deleteMessage", true},
		{"deleteMessages", true},
		{"deleteWebhook", true},
		{"setMessageReaction", true},
		{"setWebhook", true},
		{"setMyCommands", true},
		{"sendChatAction", true},
		{"sendchataction", true},
		{"SENDCHATACTION", true},
		{"GetMe", true},
		// send*, copy*, forward*: never repeated
		{"sendMessage", false},
		{"sendmessage", false},
		{"sendPhoto", false},
		{"sendDocument", false},
		{"sendMediaGroup", false},
		{"sendPoll", false},
		{"sendDice", false},
		{"sendMessageDraft", false},
		{"copyMessage", false},
		{"copyMessages", false},
		{"forwardMessage", false},
		{"forwardMessages", false},
		// everything else is not repeated either
		{"banChatMember", false},
		{"pinChatMessage", false},
		{"unpinChatMessage", false},
		{"createChatInviteLink", false},
		{"stopPoll", false},
		{"logOut", false},
		{"close", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.safe, telegram.Safe(tt.method), "Safe(%q)", tt.method)
	}
}

func TestRefused(t *testing.T) {
	for _, m := range []string{"getUpdates", "setWebhook", "deleteWebhook", "logOut", "close", "setwebhook", "GETUPDATES", "LogOut"} {
		if !telegram.Refused(m) {
			t.Errorf("Refused(%q) = false, want true", m)
		}
	}
	for _, m := range []string{"getWebhookInfo", "getMe", "sendMessage", "closeForumTopic", "setMyCommands", "", "noSuchMethod"} {
		if telegram.Refused(m) {
			t.Errorf("Refused(%q) = true, want false", m)
		}
	}
}

// TestUpdateKindsOfBotAPI101: the catalogue lists the 25 Update fields of
// Bot API 10.1, in the order of the Bot API documentation.
func TestUpdateKindsOfBotAPI101(t *testing.T) {
	want := []string{"message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
		"business_message", "edited_business_message", "deleted_business_messages", "guest_message", "message_reaction",
		"message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
		"pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member",
		"chat_join_request", "chat_boost", "removed_chat_boost", "managed_bot"}
	if got := telegram.UpdateKindNames(); !slices.Equal(got, want) {
		t.Errorf("UpdateKindNames() = %q, want %q", got, want)
	}
	for _, k := range telegram.UpdateKinds() {
		got, ok := telegram.LookupUpdateKind(k.Name)
		if !ok || got != k {
			t.Errorf("LookupUpdateKind(%q) = %+v, %v; want %+v, true", k.Name, got, ok, k)
		}
		if !telegram.IsUpdateKindName(k.Name) {
			t.Errorf("IsUpdateKindName(%q) = false", k.Name)
		}
		if k.Scope == telegram.ScopeByProbe {
			t.Errorf("%s: no scope rule (ScopeByProbe is for kinds not listed)", k.Name)
		}
	}
	if _, ok := telegram.LookupUpdateKind("Message"); ok {
		t.Error("LookupUpdateKind matched a field name in another case: Update fields are matched exactly")
	}
}

func TestUpdateKindFacts(t *testing.T) {
	tests := []telegram.UpdateKind{
		{Name: "message", Scope: telegram.ScopeByMessageChat},
		{Name: "business_message", Scope: telegram.ScopeByMessageChat, Keying: telegram.KeyByBusinessChat},
		{Name: "deleted_business_messages", Scope: telegram.ScopeByChat, Keying: telegram.KeyByBusinessChat},
		{Name: "guest_message", Scope: telegram.ScopeByMessageChat, Keying: telegram.KeyByGuestChat},
		{Name: "callback_query", Scope: telegram.ScopeByCallback},
		{Name: "poll_answer", Scope: telegram.ScopeByPollAnswer},
		{Name: "poll", Scope: telegram.ScopeByBot},
		{Name: "inline_query", Scope: telegram.ScopeByFrom},
		{Name: "business_connection", Scope: telegram.ScopeByUser},
		{Name: "chat_member", Scope: telegram.ScopeByChat, OptIn: true},
		{Name: "message_reaction", Scope: telegram.ScopeByChat, OptIn: true},
		{Name: "message_reaction_count", Scope: telegram.ScopeByChat, OptIn: true},
		{Name: "my_chat_member", Scope: telegram.ScopeByChat},
	}
	for _, want := range tests {
		if got, _ := telegram.LookupUpdateKind(want.Name); got != want {
			t.Errorf("LookupUpdateKind(%q) = %+v, want %+v", want.Name, got, want)
		}
	}
	if k, ok := telegram.LookupUpdateKind("gift_sent"); ok {
		t.Errorf("LookupUpdateKind(gift_sent) = %+v, want not found", k)
	}
}

func TestIsUpdateKindName(t *testing.T) {
	for name, want := range map[string]bool{"message": true, "some_future_kind": true, "": false, "Message": false,
		"callback-query": false, "poll answer": false, "message2": false} {
		if got := telegram.IsUpdateKindName(name); got != want {
			t.Errorf("IsUpdateKindName(%q) = %v, want %v", name, got, want)
		}
	}
}
