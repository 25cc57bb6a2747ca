package devmode

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/asgigram/asgigram/internal/textwrap"
)

// Endpoint documents one dev endpoint.
type Endpoint struct {
	Method string `json:"method"`
	// Path is the route, with {placeholders}.
	Path string `json:"path"`
	// Example is a concrete path for the curl example.
	Example string `json:"-"`
	// Body is an example JSON body ("" for GET).
	Body  string `json:"body,omitempty"`
	About string `json:"about"`
	// CurlExample is the example as a curl command (filled by GET /dev).
	CurlExample string `json:"curl,omitempty"`
}

// Endpoints lists the dev endpoints, for the usage text, GET /dev and the
// banner.
var Endpoints = []Endpoint{
	{
		Method: http.MethodPost, Path: "/dev/chats/{chat_id}/messages", Example: "/dev/chats/42/messages",
		Body:  `{"text":"hello"}`,
		About: `The user writes a text message into chat chat_id (a positive id is the private chat with that user; negative ids are groups, written in by user 1). Text starting with "/" is a command: a bot_command entity is added as Telegram does. Optional: "from" (User object fields, e.g. {"id":7,"first_name":"Ann"}), "reply_to_message_id", "entities", "extra" (more Message fields, e.g. a photo). Answers the update_id, the message, the delivery and the bot's replies.`,
	},
	{
		Method: http.MethodPost, Path: "/dev/chats/{chat_id}/callback", Example: "/dev/chats/42/callback",
		Body:  `{"data":"like"}`,
		About: `The user presses an inline keyboard button whose callback_data is "data" under the bot's message "message_id" (default: the bot's latest message with an inline keyboard). Optional "from". Answers the callback query id, the message as it is now and the bot's answerCallbackQuery call.`,
	},
	{
		Method: http.MethodPost, Path: "/dev/users/{user_id}/inline", Example: "/dev/users/42/inline",
		Body:  `{"query":"cats"}`,
		About: `The user types an inline query "@bot cats". Optional: "offset", "chat_type", "from". Answers the inline query id and the bot's answerInlineQuery call.`,
	},
	{
		Method: http.MethodPost, Path: "/dev/updates", Example: "/dev/updates",
		Body:  `{"edited_message":{"message_id":1,"date":1781340000,"edit_date":1781340005,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"Ann"},"text":"hello!"}}`,
		About: `Injects any Update object, without update_id (dev mode assigns it): edited messages, reactions, polls, kinds the endpoints above do not cover.`,
	},
	{
		Method: http.MethodGet, Path: "/dev/chats/{chat_id}", Example: "/dev/chats/42",
		About: `What the bot did in the chat: "messages" it sent (edits applied, deleted ones left out), "callback_answers" (answerCallbackQuery calls for presses in the chat) and "calls" (every Bot API call with this chat_id, failed ones included).`,
	},
	{
		Method: http.MethodGet, Path: "/dev/users/{user_id}", Example: "/dev/users/42",
		About: `What the bot did for the user: "inline_answers", "callback_answers" and "calls" with this user_id.`,
	},
	{
		Method: http.MethodGet, Path: "/dev/calls", Example: "/dev/calls",
		About: `Every Bot API call the bot made, in order (getUpdates left out unless ?all=true; ?method=sendMessage filters).`,
	},
	{
		Method: http.MethodGet, Path: "/dev/deliveries", Example: "/dev/deliveries",
		About: `The latest finished deliveries (the trace lines, as JSON: status, latency, calls, error).`,
	},
}

// Curl returns the endpoint's example as a curl command against base.
func (e Endpoint) Curl(base string) string {
	if e.Body == "" {
		return "curl -s " + base + e.Example
	}
	return "curl -s " + base + e.Example + " -d '" + e.Body + "'"
}

// EndpointsHelp is the endpoint list of the usage text, with curl examples
// against base.
func EndpointsHelp(base string) string {
	var b strings.Builder
	for _, e := range Endpoints {
		fmt.Fprintf(&b, "  %s %s\n", e.Method, e.Path)
		for _, l := range textwrap.Wrap(e.About, 72) {
			b.WriteString("      " + l + "\n")
		}
		b.WriteString("      " + e.Curl(base) + "\n\n")
	}
	b.WriteString(`  The POST endpoints wait for the delivery to finish (at most 10s, or
  ?wait=DURATION; ?wait=0 does not wait) and answer 200 with it, or 202 with
  "pending": true when it has not finished. Ids are int64; bodies are JSON
  whatever the Content-Type (so curl -d works); unknown fields are an error.
  With --bots N, every endpoint takes ?bot=NAME (bot1 to botN, default
  bot1): the bot the user writes to, or whose doings are read;
  /dev/deliveries without it lists every bot's.
`)
	return b.String()
}

// Banner is printed when dev mode starts: where everything is, and curl
// commands to copy.
func (d *Dev) Banner(sendURL string) string {
	base := d.opt.BaseURL
	app := d.opt.AppURL
	builtin := app == base+EchoPath
	if builtin {
		app += "  (the built-in echo app; give an APP_URL to use yours)"
	}
	var b strings.Builder
	bot := fmt.Sprintf("bot           @%s (id %d)", Bot.Username, Bot.ID)
	if d.multi() {
		first, last := d.bots[0].fake.User(), d.bots[len(d.bots)-1].fake.User()
		bot = fmt.Sprintf("bots          %d, %s (@%s, id %d) to %s (@%s, id %d); ?bot=NAME picks one (default %s)",
			len(d.bots), d.bots[0].name, first.Username, first.ID, d.bots[len(d.bots)-1].name, last.Username, last.ID, d.bots[0].name)
	}
	fmt.Fprintf(&b, `asgigram dev: a fake Telegram in this process, no bot token needed
  listening on  %s
  app_url       %s
  send_url      %s
  %s
  endpoints     %s  (GET it for the list; asgigram dev --help explains them)

Act as user 42 in chat 42, then see what the bot did:
`, base, app, sendURL, bot, base+Prefix)
	if builtin {
		fmt.Fprintf(&b, "  curl -s %s/dev/chats/42/messages -d '{\"text\":\"/start\"}'\n", base)
		fmt.Fprintf(&b, "  curl -s %s/dev/chats/42/callback -d '{\"data\":\"like\"}'\n", base)
	} else {
		fmt.Fprintf(&b, "  curl -s %s/dev/chats/42/messages -d '{\"text\":\"hello\"}'\n", base)
	}
	fmt.Fprintf(&b, "  curl -s %s/dev/users/42/inline -d '{\"query\":\"cats\"}'\n", base)
	fmt.Fprintf(&b, "  curl -s %s/dev/chats/42\n", base)
	if d.multi() {
		fmt.Fprintf(&b, "The same as user 42 writing to %s, and what it did:\n", d.bots[1].name)
		fmt.Fprintf(&b, "  curl -s '%s/dev/chats/42/messages?bot=%s' -d '{\"text\":\"hello\"}'\n", base, d.bots[1].name)
		fmt.Fprintf(&b, "  curl -s '%s/dev/chats/42?bot=%s'\n", base, d.bots[1].name)
	}
	if d.multi() {
		b.WriteString("\nOne line per event follows: bot, update, event type, scope -> app status and latency -> Bot API calls.\n")
	} else {
		b.WriteString("\nOne line per event follows: update, event type, scope -> app status and latency -> Bot API calls.\n")
	}
	return b.String()
}

// index answers GET /dev.
func (d *Dev) index(w http.ResponseWriter, _ *http.Request) {
	eps := make([]Endpoint, len(Endpoints))
	for i, e := range Endpoints {
		e.CurlExample = e.Curl(d.opt.BaseURL)
		eps[i] = e
	}
	type botEntry struct {
		Name string `json:"name"`
		Bot  any    `json:"bot"`
	}
	var bots []botEntry
	if d.multi() {
		for _, b := range d.bots {
			bots = append(bots, botEntry{b.name, b.fake.User()})
		}
	}
	writeJSON(w, http.StatusOK, struct {
		OK        bool       `json:"ok"`
		Bot       any        `json:"bot"`
		Bots      []botEntry `json:"bots,omitempty"`
		AppURL    string     `json:"app_url"`
		Endpoints []Endpoint `json:"endpoints"`
	}{true, d.bots[0].fake.User(), bots, d.opt.AppURL, eps})
}
