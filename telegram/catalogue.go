package telegram

import "strings"

// This file is the catalogue of what asgigram knows of the Bot API: the
// kinds of update (UpdateKinds) and the methods (Methods), each with the
// facts the rest of the daemon acts on. The rest keeps no list of its own:
// mapping, metrics, pacing, the outbound checks, the Bot API client's
// retries and the configuration all read these two tables, so supporting a
// new Bot API version is a change to this file alone (see "Updating to a
// new Bot API version" in README.md).

// BotAPIVersion is the Bot API version the catalogue follows: its update
// kinds and methods are those of this version (the methods also include the
// five ephemeral-message methods of Bot API 10.2; see methodList).
const BotAPIVersion = "10.1"

// # Update kinds

// ScopeRule says which field of an update's object names the chat or user
// whose scope the update is delivered in (docs/protocol.md, "Which scope an
// update goes to"). A chat wins over a user; an update with neither goes to
// the bot's own scope.
type ScopeRule int

const (
	// ScopeByProbe is the rule of kinds the catalogue does not list (a
	// newer Bot API): the first of "chat", "message"."chat" and
	// "voter_chat" that is an object with an id, else the first of "from"
	// and "user".
	ScopeByProbe ScopeRule = iota
	// ScopeByChat: the object's "chat".
	ScopeByChat
	// ScopeByMessageChat: the object is a Message; its "chat".
	ScopeByMessageChat
	// ScopeByFrom: the object's "from" (a user).
	ScopeByFrom
	// ScopeByUser: the object's "user".
	ScopeByUser
	// ScopeByCallback: "message"."chat" when the query has a message, else
	// "from" (inline and inaccessible messages).
	ScopeByCallback
	// ScopeByPollAnswer: "voter_chat" when an anonymous chat voted, else
	// "user".
	ScopeByPollAnswer
	// ScopeByBot: neither a chat nor a user; the bot's own scope.
	ScopeByBot
)

// ChatKeying says what, besides the chat id, tells the scopes of an update
// kind's chats apart.
type ChatKeying int

const (
	// KeyByChat: the chat id alone.
	KeyByChat ChatKeying = iota
	// KeyByBusinessChat: the business connection and the chat id. A
	// business chat's id may equal the id of the bot's own private chat
	// with the same person, and the two must not share a scope.
	KeyByBusinessChat
	// KeyByGuestChat: a guest chat, apart from the bot's own chat of the
	// same id (with its business connection, when it has one).
	KeyByGuestChat
)

// UpdateKind is one optional field of the Bot API's Update object.
type UpdateKind struct {
	// Name is the Update field, lower-case snake_case (callback_query).
	Name string
	// Scope says where the chat or user of the update is.
	Scope ScopeRule
	// Keying says how the scopes of its chats are told apart.
	Keying ChatKeying
	// OptIn is true for the kinds Telegram sends only when allowed_updates
	// names them.
	OptIn bool
}

// updateKinds lists every Update field of BotAPIVersion, in the order of the
// Bot API documentation. It is the default allowed_updates list, the set of
// kinds metrics counts by name, and the source of every scope rule.
var updateKinds = []UpdateKind{
	{Name: "message", Scope: ScopeByMessageChat},
	{Name: "edited_message", Scope: ScopeByMessageChat},
	{Name: "channel_post", Scope: ScopeByMessageChat},
	{Name: "edited_channel_post", Scope: ScopeByMessageChat},
	{Name: "business_connection", Scope: ScopeByUser},
	{Name: "business_message", Scope: ScopeByMessageChat, Keying: KeyByBusinessChat},
	{Name: "edited_business_message", Scope: ScopeByMessageChat, Keying: KeyByBusinessChat},
	{Name: "deleted_business_messages", Scope: ScopeByChat, Keying: KeyByBusinessChat},
	{Name: "guest_message", Scope: ScopeByMessageChat, Keying: KeyByGuestChat},
	{Name: "message_reaction", Scope: ScopeByChat, OptIn: true},
	{Name: "message_reaction_count", Scope: ScopeByChat, OptIn: true},
	{Name: "inline_query", Scope: ScopeByFrom},
	{Name: "chosen_inline_result", Scope: ScopeByFrom},
	{Name: "callback_query", Scope: ScopeByCallback},
	{Name: "shipping_query", Scope: ScopeByFrom},
	{Name: "pre_checkout_query", Scope: ScopeByFrom},
	{Name: "purchased_paid_media", Scope: ScopeByFrom},
	{Name: "poll", Scope: ScopeByBot},
	{Name: "poll_answer", Scope: ScopeByPollAnswer},
	{Name: "my_chat_member", Scope: ScopeByChat},
	{Name: "chat_member", Scope: ScopeByChat, OptIn: true},
	{Name: "chat_join_request", Scope: ScopeByChat},
	{Name: "chat_boost", Scope: ScopeByChat},
	{Name: "removed_chat_boost", Scope: ScopeByChat},
	{Name: "managed_bot", Scope: ScopeByUser},
}

var updateKindByName = func() map[string]UpdateKind {
	m := make(map[string]UpdateKind, len(updateKinds))
	for _, k := range updateKinds {
		m[k.Name] = k
	}
	return m
}()

// LookupUpdateKind returns the catalogue's entry for an Update field. Field
// names are matched exactly, as Telegram spells them.
func LookupUpdateKind(name string) (UpdateKind, bool) {
	k, ok := updateKindByName[name]
	return k, ok
}

// UpdateKinds returns a copy of the update kinds, in Bot API documentation
// order.
func UpdateKinds() []UpdateKind {
	return append([]UpdateKind(nil), updateKinds...)
}

// UpdateKindNames returns the names of every update kind, in Bot API
// documentation order: the default of allowed_updates.
func UpdateKindNames() []string {
	names := make([]string, len(updateKinds))
	for i, k := range updateKinds {
		names[i] = k.Name
	}
	return names
}

// IsUpdateKindName reports whether name is spelled as an Update field is:
// lower-case letters and underscores. Names the catalogue does not list
// pass, so that kinds of a newer Bot API can be asked for.
func IsUpdateKindName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' })
}

// # Methods

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

// MethodInfo is what asgigram knows of one Bot API method.
type MethodInfo struct {
	// Name is the method's name as the Bot API spells it (sendMessage).
	Name string
	// ChatID says whether and how the method takes chat_id.
	ChatID ChatIDRule
	// InlineMessageID is true when inline_message_id may replace chat_id.
	InlineMessageID bool
	// BusinessConnection is true when the method takes business_connection_id.
	BusinessConnection bool
	// Safe is true when the method may be repeated after a failure that
	// left its outcome unknown (docs/protocol.md, "Retries of outbound
	// calls"): a second call changes nothing anyone sees twice. See Safe.
	Safe bool
	// Paced is true for a message send, held by the outbound pacer's
	// message limits. See Paced.
	Paced bool
	// Refused is true for a method an application may not call through
	// asgigram: it would break the daemon's own polling or the bot's
	// session.
	Refused bool
}

// methods is the catalogue of Bot API methods (see methodList), keyed by
// lower-case name.
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

// Methods returns a copy of the catalogue, in Bot API documentation order.
func Methods() []MethodInfo {
	return append([]MethodInfo(nil), methodList...)
}

// Safe reports whether method may be repeated after a failure that left its
// outcome unknown (docs/protocol.md, "Retries of outbound calls"): the
// catalogue's Safe column. A method the catalogue does not list is judged
// by its name, as every listed one is: get*, answer*, edit*, delete*, set*
// and sendChatAction are safe; every other method (send*, copy*, forward*,
// and the rest: ban*, pin*, create*, ...) is called at most once past the
// point where the request was sent.
func Safe(method string) bool {
	if m, ok := LookupMethod(method); ok {
		return m.Safe
	}
	return safeByName(method)
}

func safeByName(method string) bool {
	m := strings.ToLower(method)
	for _, p := range []string{"get", "answer", "edit", "delete", "set"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return m == "sendchataction"
}

// Paced reports whether method is a message send, held by message pacing:
// the catalogue's Paced column. A method the catalogue does not list is
// judged by its name, as every listed one is: send* except sendChatAction (a
// typing indicator, no message), sendMessageDraft and sendRichMessageDraft
// (streamed previews of a message being written, which must keep up with
// the text; Telegram publishes no limit for them) and
// sendChatJoinRequestWebApp (an answer to a join request, not a message in a
// chat); plus copyMessage(s) and forwardMessage(s). Method names are
// case-insensitive, as in the Bot API.
func Paced(method string) bool {
	if m, ok := LookupMethod(method); ok {
		return m.Paced
	}
	return pacedByName(method)
}

func pacedByName(method string) bool {
	m := strings.ToLower(method)
	switch m {
	case "sendchataction", "sendmessagedraft", "sendrichmessagedraft", "sendchatjoinrequestwebapp":
		return false
	case "copymessage", "copymessages", "forwardmessage", "forwardmessages":
		return true
	}
	return strings.HasPrefix(m, "send")
}

// Refused reports whether method is one an application may not call: the
// catalogue's Refused column (getUpdates, setWebhook, deleteWebhook, logOut,
// close). Method names are case-insensitive, so setwebhook is refused too.
func Refused(method string) bool {
	m, ok := LookupMethod(method)
	return ok && m.Refused
}

// methodList lists every method of BotAPIVersion (10.1), in the order of the Bot API
// documentation, plus the five ephemeral-message methods added in Bot API 10.2
// (marked below). 185 methods in all.
//
// Sources checked:
//   - a verbatim snapshot of https://core.telegram.org/bots/api in
//     github.com/grom-dev/bot-api-spec: spec/upstream/meta.json (version 10.1:
//     the method list; version 10.3: the same list plus the 10.2 ephemeral
//     methods) and spec/upstream/methods/<name>.json (each method's
//     parameters and whether they are required), read for every method here
//     (not every file was stored at the 10.1 commit; some were read at
//     neighbouring commits of the same snapshot);
//   - methods_all.txt of the same repository (a Bot API 9.2 scrape): every
//     9.2 method is still present in 10.1;
//   - release notes of other libraries (go-telegram/bot v1.22.0 for 10.1,
//     yagop/node-telegram-bot-api 1.2.0 for 10.2) for the newest methods.
//
// Rules: ChatID is ChatIDRequired when the method has a chat_id parameter
// that is required, or required unless inline_message_id is given (then
// InlineMessageID is true); ChatIDOptional when chat_id may be left out and
// that means something else (default menu button; sendGift's user_id);
// ChatIDNone when there is no chat_id parameter at all. Parameters that merely
// name a chat (from_chat_id, new_owner_chat_id, actor_chat_id, sender_chat_id,
// user_chat_id) are not chat_id. BusinessConnection is true whenever the
// method takes business_connection_id, required or not. Safe, Paced and
// Refused are asgigram's own judgement (see Safe, Paced and Refused); for
// every method listed, Safe and Paced agree with the name rules that judge
// the methods not listed.
var methodList = []MethodInfo{
	// Getting updates
	{Name: "getUpdates", Safe: true, Refused: true},
	{Name: "setWebhook", Safe: true, Refused: true},
	{Name: "deleteWebhook", Safe: true, Refused: true},
	{Name: "getWebhookInfo", Safe: true},

	// Available methods
	{Name: "getMe", Safe: true},
	{Name: "logOut", Refused: true},
	{Name: "close", Refused: true},
	{Name: "sendMessage", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "forwardMessage", ChatID: ChatIDRequired, Paced: true},
	{Name: "forwardMessages", ChatID: ChatIDRequired, Paced: true},
	{Name: "copyMessage", ChatID: ChatIDRequired, Paced: true},
	{Name: "copyMessages", ChatID: ChatIDRequired, Paced: true},
	{Name: "sendPhoto", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendLivePhoto", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendAudio", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendDocument", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendVideo", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendAnimation", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendVoice", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendVideoNote", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendPaidMedia", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendMediaGroup", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendLocation", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendVenue", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendContact", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendPoll", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendChecklist", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendDice", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendMessageDraft", ChatID: ChatIDRequired},
	{Name: "sendChatAction", ChatID: ChatIDRequired, BusinessConnection: true, Safe: true},
	{Name: "setMessageReaction", ChatID: ChatIDRequired, Safe: true},
	{Name: "getUserProfilePhotos", Safe: true},
	{Name: "getUserProfileAudios", Safe: true},
	{Name: "setUserEmojiStatus", Safe: true},
	{Name: "getFile", Safe: true},
	{Name: "banChatMember", ChatID: ChatIDRequired},
	{Name: "unbanChatMember", ChatID: ChatIDRequired},
	{Name: "restrictChatMember", ChatID: ChatIDRequired},
	{Name: "promoteChatMember", ChatID: ChatIDRequired},
	{Name: "setChatAdministratorCustomTitle", ChatID: ChatIDRequired, Safe: true},
	{Name: "setChatMemberTag", ChatID: ChatIDRequired, Safe: true},
	{Name: "banChatSenderChat", ChatID: ChatIDRequired},
	{Name: "unbanChatSenderChat", ChatID: ChatIDRequired},
	{Name: "setChatPermissions", ChatID: ChatIDRequired, Safe: true},
	{Name: "exportChatInviteLink", ChatID: ChatIDRequired},
	{Name: "createChatInviteLink", ChatID: ChatIDRequired},
	{Name: "editChatInviteLink", ChatID: ChatIDRequired, Safe: true},
	{Name: "createChatSubscriptionInviteLink", ChatID: ChatIDRequired},
	{Name: "editChatSubscriptionInviteLink", ChatID: ChatIDRequired, Safe: true},
	{Name: "revokeChatInviteLink", ChatID: ChatIDRequired},
	{Name: "approveChatJoinRequest", ChatID: ChatIDRequired},
	{Name: "declineChatJoinRequest", ChatID: ChatIDRequired},
	{Name: "answerChatJoinRequestQuery", Safe: true},
	{Name: "sendChatJoinRequestWebApp"},
	{Name: "setChatPhoto", ChatID: ChatIDRequired, Safe: true},
	{Name: "deleteChatPhoto", ChatID: ChatIDRequired, Safe: true},
	{Name: "setChatTitle", ChatID: ChatIDRequired, Safe: true},
	{Name: "setChatDescription", ChatID: ChatIDRequired, Safe: true},
	{Name: "pinChatMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "unpinChatMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "unpinAllChatMessages", ChatID: ChatIDRequired},
	{Name: "leaveChat", ChatID: ChatIDRequired},
	{Name: "getChat", ChatID: ChatIDRequired, Safe: true},
	{Name: "getChatAdministrators", ChatID: ChatIDRequired, Safe: true},
	{Name: "getChatMemberCount", ChatID: ChatIDRequired, Safe: true},
	{Name: "getChatMember", ChatID: ChatIDRequired, Safe: true},
	{Name: "getUserPersonalChatMessages", Safe: true},
	{Name: "setChatStickerSet", ChatID: ChatIDRequired, Safe: true},
	{Name: "deleteChatStickerSet", ChatID: ChatIDRequired, Safe: true},
	{Name: "getForumTopicIconStickers", Safe: true},
	{Name: "createForumTopic", ChatID: ChatIDRequired},
	{Name: "editForumTopic", ChatID: ChatIDRequired, Safe: true},
	{Name: "closeForumTopic", ChatID: ChatIDRequired},
	{Name: "reopenForumTopic", ChatID: ChatIDRequired},
	{Name: "deleteForumTopic", ChatID: ChatIDRequired, Safe: true},
	{Name: "unpinAllForumTopicMessages", ChatID: ChatIDRequired},
	{Name: "editGeneralForumTopic", ChatID: ChatIDRequired, Safe: true},
	{Name: "closeGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "reopenGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "hideGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "unhideGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "unpinAllGeneralForumTopicMessages", ChatID: ChatIDRequired},
	{Name: "answerCallbackQuery", Safe: true},
	{Name: "answerGuestQuery", Safe: true},
	{Name: "getUserChatBoosts", ChatID: ChatIDRequired, Safe: true},
	{Name: "getBusinessConnection", BusinessConnection: true, Safe: true},
	{Name: "getManagedBotToken", Safe: true},
	{Name: "replaceManagedBotToken"},
	{Name: "getManagedBotAccessSettings", Safe: true},
	{Name: "setManagedBotAccessSettings", Safe: true},
	{Name: "setMyCommands", Safe: true},
	{Name: "deleteMyCommands", Safe: true},
	{Name: "getMyCommands", Safe: true},
	{Name: "setMyName", Safe: true},
	{Name: "getMyName", Safe: true},
	{Name: "setMyDescription", Safe: true},
	{Name: "getMyDescription", Safe: true},
	{Name: "setMyShortDescription", Safe: true},
	{Name: "getMyShortDescription", Safe: true},
	{Name: "setMyProfilePhoto", Safe: true},
	{Name: "removeMyProfilePhoto"},
	{Name: "setChatMenuButton", ChatID: ChatIDOptional, Safe: true},
	{Name: "getChatMenuButton", ChatID: ChatIDOptional, Safe: true},
	{Name: "setMyDefaultAdministratorRights", Safe: true},
	{Name: "getMyDefaultAdministratorRights", Safe: true},
	{Name: "getAvailableGifts", Safe: true},
	{Name: "sendGift", ChatID: ChatIDOptional, Paced: true},
	{Name: "giftPremiumSubscription"},
	{Name: "verifyUser"},
	{Name: "verifyChat", ChatID: ChatIDRequired},
	{Name: "removeUserVerification"},
	{Name: "removeChatVerification", ChatID: ChatIDRequired},
	{Name: "readBusinessMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "deleteBusinessMessages", BusinessConnection: true, Safe: true},
	{Name: "setBusinessAccountName", BusinessConnection: true, Safe: true},
	{Name: "setBusinessAccountUsername", BusinessConnection: true, Safe: true},
	{Name: "setBusinessAccountBio", BusinessConnection: true, Safe: true},
	{Name: "setBusinessAccountProfilePhoto", BusinessConnection: true, Safe: true},
	{Name: "removeBusinessAccountProfilePhoto", BusinessConnection: true},
	{Name: "setBusinessAccountGiftSettings", BusinessConnection: true, Safe: true},
	{Name: "getBusinessAccountStarBalance", BusinessConnection: true, Safe: true},
	{Name: "transferBusinessAccountStars", BusinessConnection: true},
	{Name: "getBusinessAccountGifts", BusinessConnection: true, Safe: true},
	{Name: "getUserGifts", Safe: true},
	{Name: "getChatGifts", ChatID: ChatIDRequired, Safe: true},
	{Name: "convertGiftToStars", BusinessConnection: true},
	{Name: "upgradeGift", BusinessConnection: true},
	{Name: "transferGift", BusinessConnection: true},
	{Name: "postStory", BusinessConnection: true},
	{Name: "repostStory", BusinessConnection: true},
	{Name: "editStory", BusinessConnection: true, Safe: true},
	{Name: "deleteStory", BusinessConnection: true, Safe: true},
	{Name: "answerWebAppQuery", Safe: true},
	{Name: "savePreparedInlineMessage"},
	{Name: "savePreparedKeyboardButton"},

	// Updating messages
	{Name: "editMessageText", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true},
	{Name: "editMessageCaption", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true},
	{Name: "editMessageMedia", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true},
	{Name: "editMessageLiveLocation", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true},
	{Name: "stopMessageLiveLocation", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "editMessageChecklist", ChatID: ChatIDRequired, BusinessConnection: true, Safe: true},
	{Name: "editMessageReplyMarkup", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true, Safe: true},
	{Name: "stopPoll", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "editEphemeralMessageText", ChatID: ChatIDRequired, Safe: true},        // Bot API 10.2
	{Name: "editEphemeralMessageMedia", ChatID: ChatIDRequired, Safe: true},       // Bot API 10.2
	{Name: "editEphemeralMessageCaption", ChatID: ChatIDRequired, Safe: true},     // Bot API 10.2
	{Name: "editEphemeralMessageReplyMarkup", ChatID: ChatIDRequired, Safe: true}, // Bot API 10.2
	{Name: "approveSuggestedPost", ChatID: ChatIDRequired},
	{Name: "declineSuggestedPost", ChatID: ChatIDRequired},
	{Name: "deleteMessage", ChatID: ChatIDRequired, Safe: true},
	{Name: "deleteMessages", ChatID: ChatIDRequired, Safe: true},
	{Name: "deleteEphemeralMessage", ChatID: ChatIDRequired, Safe: true}, // Bot API 10.2
	{Name: "deleteMessageReaction", ChatID: ChatIDRequired, Safe: true},
	{Name: "deleteAllMessageReactions", ChatID: ChatIDRequired, Safe: true},

	// Stickers
	{Name: "sendSticker", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "getStickerSet", Safe: true},
	{Name: "getCustomEmojiStickers", Safe: true},
	{Name: "uploadStickerFile"},
	{Name: "createNewStickerSet"},
	{Name: "addStickerToSet"},
	{Name: "setStickerPositionInSet", Safe: true},
	{Name: "deleteStickerFromSet", Safe: true},
	{Name: "replaceStickerInSet"},
	{Name: "setStickerEmojiList", Safe: true},
	{Name: "setStickerKeywords", Safe: true},
	{Name: "setStickerMaskPosition", Safe: true},
	{Name: "setStickerSetTitle", Safe: true},
	{Name: "setStickerSetThumbnail", Safe: true},
	{Name: "setCustomEmojiStickerSetThumbnail", Safe: true},
	{Name: "deleteStickerSet", Safe: true},

	// Rich messages
	{Name: "sendRichMessage", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "sendRichMessageDraft", ChatID: ChatIDRequired},

	// Inline mode
	{Name: "answerInlineQuery", Safe: true},

	// Payments
	{Name: "sendInvoice", ChatID: ChatIDRequired, Paced: true},
	{Name: "createInvoiceLink", BusinessConnection: true},
	{Name: "answerShippingQuery", Safe: true},
	{Name: "answerPreCheckoutQuery", Safe: true},
	{Name: "getMyStarBalance", Safe: true},
	{Name: "getStarTransactions", Safe: true},
	{Name: "refundStarPayment"},
	{Name: "editUserStarSubscription", Safe: true},

	// Telegram Passport
	{Name: "setPassportDataErrors", Safe: true},

	// Games
	{Name: "sendGame", ChatID: ChatIDRequired, BusinessConnection: true, Paced: true},
	{Name: "setGameScore", ChatID: ChatIDRequired, InlineMessageID: true, Safe: true},
	{Name: "getGameHighScores", ChatID: ChatIDRequired, InlineMessageID: true, Safe: true},
}
