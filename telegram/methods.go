package telegram

import "strings"

// ChatIDRule says how a Bot API method uses the chat_id parameter.
type ChatIDRule int

const (
	// ChatIDNone means the method takes no chat_id.
	ChatIDNone ChatIDRule = iota
	// ChatIDRequired means the method needs chat_id, unless it names an
	// inline_message_id instead (edit* methods, stopMessageLiveLocation, ...).
	ChatIDRequired
	// ChatIDOptional means chat_id may be left out and then means something
	// else (setChatMenuButton without chat_id changes the default button).
	ChatIDOptional
)

// MethodInfo is what the adapter needs to know about one Bot API method.
type MethodInfo struct {
	// Name is the method's name as the Bot API spells it (sendMessage).
	Name string
	// ChatID says whether and how the method takes chat_id.
	ChatID ChatIDRule
	// InlineMessageID is true when inline_message_id may replace chat_id.
	InlineMessageID bool
	// BusinessConnection is true when the method takes business_connection_id.
	BusinessConnection bool
}

// methods is the catalogue of Bot API 10.1 methods, keyed by lower-case name.
var methods = map[string]MethodInfo{}

func init() {
	for _, m := range methodList {
		methods[strings.ToLower(m.Name)] = m
	}
}

// LookupMethod returns what is known of a Bot API method. Method names are
// case-insensitive, as in the Bot API itself.
func LookupMethod(name string) (MethodInfo, bool) {
	m, ok := methods[strings.ToLower(name)]
	return m, ok
}

// methodList lists every method of Bot API 10.1.
var methodList = []MethodInfo{
	{Name: "getMe"},
	{Name: "getUpdates"},
	{Name: "sendMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "answerCallbackQuery"},
	{Name: "editMessageText", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
}
