package fakeapi

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// This file holds the bots a Server serves: the Bot type with its
// test-facing methods, AddBot and BotFor, and the Server's methods that act
// on the bot of Config.Token.

// Bot is one bot a Server serves, reached with its token: its own update
// queue and offset, getMe user, chats and messages, files, webhook,
// allowed_updates, long poll and revocation, as on the real server, where
// each token is a bot of its own. A call made with one bot's token never
// reads or changes another bot's state. Get one from Server.BotFor or
// Server.AddBot; the Server's own methods of the same names act on the bot
// of Config.Token. All methods are safe for concurrent use.
type Bot struct {
	srv   *Server
	token string
	user  User

	mu     sync.Mutex
	faults []*faultEntry

	updates   []storedUpdate // pending updates, sorted by id
	nextID    int64
	confirmed int64
	allowed   []string // explicit allowed_updates; nil means the default set
	webhook   string
	revoked   bool
	closed    bool
	changed   chan struct{} // closed and replaced whenever updates arrive
	poll      *poller       // the long poll currently held, if any

	chats      map[int64]*chatState
	usernames  map[string]int64
	chatErrors map[int64]apiError
	queries    map[string]bool // query ids that arrived in updates
	// callbacks holds the callback queries not answered yet, with the
	// time their update was added.
	callbacks    map[string]time.Time
	fileSeq      int64
	files        map[string]*storedFile // by file_id, see files.go
	filePaths    map[string]*storedFile // by file_path
	uploads      map[string]Upload      // the files of the call being handled
	mediaGroupID int64
}

// AddBot makes the server serve one more bot, with token, and returns it.
// Its getMe user is user, or when that is the zero User, DefaultBot with
// the id of the token's numeric prefix. The bot has no pending updates; its
// first update gets id Config.FirstUpdateID. AddBot panics if token is
// empty or already served.
func (s *Server) AddBot(token string, user User) *Bot {
	if token == "" {
		panic("fakeapi: AddBot: empty token")
	}
	if user == (User{}) {
		user = defaultUser(token)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addBotLocked(token, user)
}

// addBotLocked registers a bot. s.mu must be held, or s not yet shared.
func (s *Server) addBotLocked(token string, user User) *Bot {
	if _, dup := s.bots[token]; dup {
		panic("fakeapi: token served twice")
	}
	b := &Bot{
		srv:        s,
		token:      token,
		user:       user,
		nextID:     s.cfg.FirstUpdateID,
		closed:     s.closed,
		changed:    make(chan struct{}),
		chats:      make(map[int64]*chatState),
		usernames:  make(map[string]int64),
		chatErrors: make(map[int64]apiError),
		queries:    make(map[string]bool),
		callbacks:  make(map[string]time.Time),
		files:      make(map[string]*storedFile),
		filePaths:  make(map[string]*storedFile),
	}
	s.bots[token] = b
	s.order = append(s.order, b)
	return b
}

// BotFor returns the bot whose token is token, revoked or not, or nil when
// the server does not serve that token (nor, after NewToken, the old one).
func (s *Server) BotFor(token string) *Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bots[token]
}

// Bots returns every bot the server serves, the bot of Config.Token first,
// then in the order they were added.
func (s *Server) Bots() []*Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Bot(nil), s.order...)
}

// Token returns the bot's token.
func (b *Bot) Token() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token
}

// User returns the bot's user, answered by getMe and used as the sender of
// the messages the bot sends.
func (b *Bot) User() User { return b.user }

// liveAs reports whether b is a bot that answers to token: not revoked,
// and token is its current one (not one NewToken replaced while the call
// was on its way). A nil b (an unknown token) is not.
func (b *Bot) liveAs(token string) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.revoked && b.token == token
}

// close ends the held long poll and makes later ones answer at once.
func (b *Bot) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.endPoll(nil)
}

// Fail queues a fault for the next calls of method made with this bot's
// token, as Server.Fail does for calls of any token; the faults of
// Server.Fail are taken first. A bot's fault takes effect before the
// revocation check and the method name check.
func (b *Bot) Fail(method string, f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = addFault(b.faults, method, f)
}

// RevokeToken makes every later call with this bot's token, and its long
// poll held at the moment, answer 401 Unauthorized, as after the token was
// revoked in @BotFather. The server's other bots are not affected.
func (b *Bot) RevokeToken() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revoked = true
	b.endPoll(&apiError{Code: http.StatusUnauthorized, Description: "Unauthorized"})
}

// NewToken replaces the bot's token with token, as revoking the current
// token in @BotFather does: from now on the old token is unknown (every
// call with it, and its long poll held at the moment, answers 401
// Unauthorized) and the same bot (its id, update ids, offset, chats and
// files) answers to token. A bot stopped by RevokeToken answers again.
// NewToken panics if token is empty or already served.
func (b *Bot) NewToken(token string) {
	if token == "" {
		panic("fakeapi: NewToken: empty token")
	}
	s := b.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.bots[token]; dup {
		panic("fakeapi: token served twice")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(s.bots, b.token)
	s.bots[token] = b
	b.token = token
	b.revoked = false
	b.endPoll(&apiError{Code: http.StatusUnauthorized, Description: "Unauthorized"})
}

// SetWebhook sets the webhook URL, as the setWebhook method would, without
// recording a call. While a webhook is set, getUpdates answers 409; a held
// long poll is terminated with 409 as well. An empty url removes the
// webhook. The fake never delivers updates to the webhook.
func (b *Bot) SetWebhook(url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setWebhookLocked(url)
}

// Webhook returns the webhook URL set, or "" when there is none.
func (b *Bot) Webhook() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.webhook
}

// Calls returns a copy of every call made with this bot's token, in
// arrival order, including refused and faulted ones.
func (b *Bot) Calls() []Call { return b.srv.callsOf(b, "") }

// CallsTo returns a copy of the calls of method made with this bot's
// token, in arrival order. The method name matches case-insensitively.
func (b *Bot) CallsTo(method string) []Call { return b.srv.callsOf(b, method) }

// The Server's methods below act on the bot of Config.Token; each is
// documented on Bot.

// RevokeToken revokes the token of Config.Token; see Bot.RevokeToken.
func (s *Server) RevokeToken() { s.def.RevokeToken() }

// SetWebhook sets the webhook of the bot of Config.Token; see
// Bot.SetWebhook.
func (s *Server) SetWebhook(url string) { s.def.SetWebhook(url) }

// Webhook returns the webhook of the bot of Config.Token; see Bot.Webhook.
func (s *Server) Webhook() string { return s.def.Webhook() }

// AddUpdate adds an update for the bot of Config.Token; see Bot.AddUpdate.
func (s *Server) AddUpdate(kind string, payload any) int64 { return s.def.AddUpdate(kind, payload) }

// AddRawUpdate adds an update for the bot of Config.Token; see
// Bot.AddRawUpdate.
func (s *Server) AddRawUpdate(update json.RawMessage) int64 { return s.def.AddRawUpdate(update) }

// AddMessage adds an incoming message for the bot of Config.Token; see
// Bot.AddMessage.
func (s *Server) AddMessage(kind string, chatID int64, msg map[string]any) (updateID, messageID int64) {
	return s.def.AddMessage(kind, chatID, msg)
}

// SetNextUpdateID sets the next update_id of the bot of Config.Token; see
// Bot.SetNextUpdateID.
func (s *Server) SetNextUpdateID(id int64) { s.def.SetNextUpdateID(id) }

// ResetUpdateIDs resets the update queue of the bot of Config.Token; see
// Bot.ResetUpdateIDs.
func (s *Server) ResetUpdateIDs(next int64) { s.def.ResetUpdateIDs(next) }

// Offset returns the offset confirmed by the bot of Config.Token; see
// Bot.Offset.
func (s *Server) Offset() int64 { return s.def.Offset() }

// Pending returns the number of pending updates of the bot of
// Config.Token; see Bot.Pending.
func (s *Server) Pending() int { return s.def.Pending() }

// AllowedUpdates returns the allowed_updates of the bot of Config.Token;
// see Bot.AllowedUpdates.
func (s *Server) AllowedUpdates() []string { return s.def.AllowedUpdates() }

// Polling reports whether the bot of Config.Token holds a long poll; see
// Bot.Polling.
func (s *Server) Polling() bool { return s.def.Polling() }

// Messages returns the messages of a chat of the bot of Config.Token; see
// Bot.Messages.
func (s *Server) Messages(chatID int64) []json.RawMessage { return s.def.Messages(chatID) }

// Message returns a message of the bot of Config.Token; see Bot.Message.
func (s *Server) Message(chatID, messageID int64) (json.RawMessage, bool) {
	return s.def.Message(chatID, messageID)
}

// Chat returns a chat of the bot of Config.Token; see Bot.Chat.
func (s *Server) Chat(chatID int64) (json.RawMessage, bool) { return s.def.Chat(chatID) }

// ResolveChat resolves a username for the bot of Config.Token; see
// Bot.ResolveChat.
func (s *Server) ResolveChat(username string) int64 { return s.def.ResolveChat(username) }

// ForbidChat makes a chat refuse the bot of Config.Token; see
// Bot.ForbidChat.
func (s *Server) ForbidChat(chatID int64, code int, description string) {
	s.def.ForbidChat(chatID, code, description)
}

// MigrateChat migrates a chat of the bot of Config.Token; see
// Bot.MigrateChat.
func (s *Server) MigrateChat(chatID, newChatID int64) { s.def.MigrateChat(chatID, newChatID) }

// AddFile registers a file of the bot of Config.Token; see Bot.AddFile.
func (s *Server) AddFile(fileID string, content []byte, path string) {
	s.def.AddFile(fileID, content, path)
}

// File returns a file of the bot of Config.Token; see Bot.File.
func (s *Server) File(fileID string) (content []byte, path string, ok bool) {
	return s.def.File(fileID)
}
