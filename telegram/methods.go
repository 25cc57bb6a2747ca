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

// methodList lists every method of Bot API 10.1, in the order of the Bot API
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
// method takes business_connection_id, required or not.
var methodList = []MethodInfo{
	// Getting updates
	{Name: "getUpdates"},
	{Name: "setWebhook"},
	{Name: "deleteWebhook"},
	{Name: "getWebhookInfo"},

	// Available methods
	{Name: "getMe"},
	{Name: "logOut"},
	{Name: "close"},
	{Name: "sendMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "forwardMessage", ChatID: ChatIDRequired},
	{Name: "forwardMessages", ChatID: ChatIDRequired},
	{Name: "copyMessage", ChatID: ChatIDRequired},
	{Name: "copyMessages", ChatID: ChatIDRequired},
	{Name: "sendPhoto", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendLivePhoto", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendAudio", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendDocument", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendVideo", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendAnimation", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendVoice", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendVideoNote", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendPaidMedia", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendMediaGroup", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendLocation", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendVenue", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendContact", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendPoll", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendChecklist", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendDice", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendMessageDraft", ChatID: ChatIDRequired},
	{Name: "sendChatAction", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "setMessageReaction", ChatID: ChatIDRequired},
	{Name: "getUserProfilePhotos"},
	{Name: "getUserProfileAudios"},
	{Name: "setUserEmojiStatus"},
	{Name: "getFile"},
	{Name: "banChatMember", ChatID: ChatIDRequired},
	{Name: "unbanChatMember", ChatID: ChatIDRequired},
	{Name: "restrictChatMember", ChatID: ChatIDRequired},
	{Name: "promoteChatMember", ChatID: ChatIDRequired},
	{Name: "setChatAdministratorCustomTitle", ChatID: ChatIDRequired},
	{Name: "setChatMemberTag", ChatID: ChatIDRequired},
	{Name: "banChatSenderChat", ChatID: ChatIDRequired},
	{Name: "unbanChatSenderChat", ChatID: ChatIDRequired},
	{Name: "setChatPermissions", ChatID: ChatIDRequired},
	{Name: "exportChatInviteLink", ChatID: ChatIDRequired},
	{Name: "createChatInviteLink", ChatID: ChatIDRequired},
	{Name: "editChatInviteLink", ChatID: ChatIDRequired},
	{Name: "createChatSubscriptionInviteLink", ChatID: ChatIDRequired},
	{Name: "editChatSubscriptionInviteLink", ChatID: ChatIDRequired},
	{Name: "revokeChatInviteLink", ChatID: ChatIDRequired},
	{Name: "approveChatJoinRequest", ChatID: ChatIDRequired},
	{Name: "declineChatJoinRequest", ChatID: ChatIDRequired},
	{Name: "answerChatJoinRequestQuery"},
	{Name: "sendChatJoinRequestWebApp"},
	{Name: "setChatPhoto", ChatID: ChatIDRequired},
	{Name: "deleteChatPhoto", ChatID: ChatIDRequired},
	{Name: "setChatTitle", ChatID: ChatIDRequired},
	{Name: "setChatDescription", ChatID: ChatIDRequired},
	{Name: "pinChatMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "unpinChatMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "unpinAllChatMessages", ChatID: ChatIDRequired},
	{Name: "leaveChat", ChatID: ChatIDRequired},
	{Name: "getChat", ChatID: ChatIDRequired},
	{Name: "getChatAdministrators", ChatID: ChatIDRequired},
	{Name: "getChatMemberCount", ChatID: ChatIDRequired},
	{Name: "getChatMember", ChatID: ChatIDRequired},
	{Name: "getUserPersonalChatMessages"},
	{Name: "setChatStickerSet", ChatID: ChatIDRequired},
	{Name: "deleteChatStickerSet", ChatID: ChatIDRequired},
	{Name: "getForumTopicIconStickers"},
	{Name: "createForumTopic", ChatID: ChatIDRequired},
	{Name: "editForumTopic", ChatID: ChatIDRequired},
	{Name: "closeForumTopic", ChatID: ChatIDRequired},
	{Name: "reopenForumTopic", ChatID: ChatIDRequired},
	{Name: "deleteForumTopic", ChatID: ChatIDRequired},
	{Name: "unpinAllForumTopicMessages", ChatID: ChatIDRequired},
	{Name: "editGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "closeGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "reopenGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "hideGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "unhideGeneralForumTopic", ChatID: ChatIDRequired},
	{Name: "unpinAllGeneralForumTopicMessages", ChatID: ChatIDRequired},
	{Name: "answerCallbackQuery"},
	{Name: "answerGuestQuery"},
	{Name: "getUserChatBoosts", ChatID: ChatIDRequired},
	{Name: "getBusinessConnection", BusinessConnection: true},
	{Name: "getManagedBotToken"},
	{Name: "replaceManagedBotToken"},
	{Name: "getManagedBotAccessSettings"},
	{Name: "setManagedBotAccessSettings"},
	{Name: "setMyCommands"},
	{Name: "deleteMyCommands"},
	{Name: "getMyCommands"},
	{Name: "setMyName"},
	{Name: "getMyName"},
	{Name: "setMyDescription"},
	{Name: "getMyDescription"},
	{Name: "setMyShortDescription"},
	{Name: "getMyShortDescription"},
	{Name: "setMyProfilePhoto"},
	{Name: "removeMyProfilePhoto"},
	{Name: "setChatMenuButton", ChatID: ChatIDOptional},
	{Name: "getChatMenuButton", ChatID: ChatIDOptional},
	{Name: "setMyDefaultAdministratorRights"},
	{Name: "getMyDefaultAdministratorRights"},
	{Name: "getAvailableGifts"},
	{Name: "sendGift", ChatID: ChatIDOptional},
	{Name: "giftPremiumSubscription"},
	{Name: "verifyUser"},
	{Name: "verifyChat", ChatID: ChatIDRequired},
	{Name: "removeUserVerification"},
	{Name: "removeChatVerification", ChatID: ChatIDRequired},
	{Name: "readBusinessMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "deleteBusinessMessages", BusinessConnection: true},
	{Name: "setBusinessAccountName", BusinessConnection: true},
	{Name: "setBusinessAccountUsername", BusinessConnection: true},
	{Name: "setBusinessAccountBio", BusinessConnection: true},
	{Name: "setBusinessAccountProfilePhoto", BusinessConnection: true},
	{Name: "removeBusinessAccountProfilePhoto", BusinessConnection: true},
	{Name: "setBusinessAccountGiftSettings", BusinessConnection: true},
	{Name: "getBusinessAccountStarBalance", BusinessConnection: true},
	{Name: "transferBusinessAccountStars", BusinessConnection: true},
	{Name: "getBusinessAccountGifts", BusinessConnection: true},
	{Name: "getUserGifts"},
	{Name: "getChatGifts", ChatID: ChatIDRequired},
	{Name: "convertGiftToStars", BusinessConnection: true},
	{Name: "upgradeGift", BusinessConnection: true},
	{Name: "transferGift", BusinessConnection: true},
	{Name: "postStory", BusinessConnection: true},
	{Name: "repostStory", BusinessConnection: true},
	{Name: "editStory", BusinessConnection: true},
	{Name: "deleteStory", BusinessConnection: true},
	{Name: "answerWebAppQuery"},
	{Name: "savePreparedInlineMessage"},
	{Name: "savePreparedKeyboardButton"},

	// Updating messages
	{Name: "editMessageText", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "editMessageCaption", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "editMessageMedia", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "editMessageLiveLocation", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "stopMessageLiveLocation", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "editMessageChecklist", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "editMessageReplyMarkup", ChatID: ChatIDRequired, InlineMessageID: true, BusinessConnection: true},
	{Name: "stopPoll", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "editEphemeralMessageText", ChatID: ChatIDRequired},        // Bot API 10.2
	{Name: "editEphemeralMessageMedia", ChatID: ChatIDRequired},       // Bot API 10.2
	{Name: "editEphemeralMessageCaption", ChatID: ChatIDRequired},     // Bot API 10.2
	{Name: "editEphemeralMessageReplyMarkup", ChatID: ChatIDRequired}, // Bot API 10.2
	{Name: "approveSuggestedPost", ChatID: ChatIDRequired},
	{Name: "declineSuggestedPost", ChatID: ChatIDRequired},
	{Name: "deleteMessage", ChatID: ChatIDRequired},
	{Name: "deleteMessages", ChatID: ChatIDRequired},
	{Name: "deleteEphemeralMessage", ChatID: ChatIDRequired}, // Bot API 10.2
	{Name: "deleteMessageReaction", ChatID: ChatIDRequired},
	{Name: "deleteAllMessageReactions", ChatID: ChatIDRequired},

	// Stickers
	{Name: "sendSticker", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "getStickerSet"},
	{Name: "getCustomEmojiStickers"},
	{Name: "uploadStickerFile"},
	{Name: "createNewStickerSet"},
	{Name: "addStickerToSet"},
	{Name: "setStickerPositionInSet"},
	{Name: "deleteStickerFromSet"},
	{Name: "replaceStickerInSet"},
	{Name: "setStickerEmojiList"},
	{Name: "setStickerKeywords"},
	{Name: "setStickerMaskPosition"},
	{Name: "setStickerSetTitle"},
	{Name: "setStickerSetThumbnail"},
	{Name: "setCustomEmojiStickerSetThumbnail"},
	{Name: "deleteStickerSet"},

	// Rich messages
	{Name: "sendRichMessage", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "sendRichMessageDraft", ChatID: ChatIDRequired},

	// Inline mode
	{Name: "answerInlineQuery"},

	// Payments
	{Name: "sendInvoice", ChatID: ChatIDRequired},
	{Name: "createInvoiceLink", BusinessConnection: true},
	{Name: "answerShippingQuery"},
	{Name: "answerPreCheckoutQuery"},
	{Name: "getMyStarBalance"},
	{Name: "getStarTransactions"},
	{Name: "refundStarPayment"},
	{Name: "editUserStarSubscription"},

	// Telegram Passport
	{Name: "setPassportDataErrors"},

	// Games
	{Name: "sendGame", ChatID: ChatIDRequired, BusinessConnection: true},
	{Name: "setGameScore", ChatID: ChatIDRequired, InlineMessageID: true},
	{Name: "getGameHighScores", ChatID: ChatIDRequired, InlineMessageID: true},
}
