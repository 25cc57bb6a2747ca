// Package metrics exposes asgigram's Prometheus metrics (names prefixed
// asgigram_) on a private registry. Label values are bounded: update kinds
// and Bot API methods the telegram catalogue does not list are counted as
// "other".
//
// A process of several bots registers each bot's collectors on one
// Registry (Registry.Bot), each series with the label bot="<name>"; a
// process of one bot without a name (New) has no bot label.
package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// Gauges are read when /metrics is scraped.
type Gauges struct {
	// Scopes returns the number of live scopes.
	Scopes func() int
	// Pending returns the updates fetched and not yet finished.
	Pending func() int
}

// Registry holds the collectors of the process and of every bot, and
// serves them.
type Registry struct {
	reg *prometheus.Registry
}

// NewRegistry returns a registry with the Go runtime's and the process's
// collectors, which are the process's, not a bot's: they have no bot
// label.
func NewRegistry() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Metrics holds the collectors of one bot.
type Metrics struct {
	r           *Registry
	updates     *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	appLatency  prometheus.Histogram
	replyCalls  *prometheus.CounterVec
	apiCalls    *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	idResets    prometheus.Counter
	typing      *prometheus.CounterVec
	cbAnswers   *prometheus.CounterVec
	lifecycle   *prometheus.CounterVec
}

// New registers every collector on a fresh registry, without a bot label:
// the metrics of a process of one bot.
func New(g Gauges) *Metrics { return NewRegistry().Bot("", g) }

// Bot registers the collectors of one bot on r and returns them. With a
// name, every series they give has the label bot=name; without, none (the
// one bot of a process). Each name may be registered once.
func (r *Registry) Bot(name string, g Gauges) *Metrics {
	var reg prometheus.Registerer = r.reg
	if name != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"bot": name}, r.reg)
	}
	m := &Metrics{
		r: r,
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_updates_received_total",
			Help: "Updates fetched from Telegram, by kind (the Update field; unknown kinds are \"other\").",
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_deliveries_total",
			Help: "Finished deliveries to the application, by outcome (ok, reply_error, failed) and the class of the last HTTP status (2xx, 3xx, 4xx, 5xx, none).",
		}, []string{"outcome", "status_class"}),
		appLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "asgigram_app_latency_seconds",
			Help:    "Time from the first POST of an event to the application's final answer, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		replyCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_reply_calls_total",
			Help: "Outbound calls made from reply bodies, by result (ok, error).",
		}, []string{"result"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_botapi_calls_total",
			Help: "Bot API calls, by method (unknown methods are \"other\") and outcome (ok, refused, unknown, failed).",
		}, []string{"method", "outcome"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "asgigram_botapi_call_duration_seconds",
			Help:    "Bot API call duration, retries and waits included, by method; getUpdates includes its long poll.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_dead_letters_total",
			Help: "Dead letters kept, by kind (delivery: the app never took the event; reply: its reply failed).",
		}, []string{"kind"}),
		idResets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asgigram_update_id_resets_total",
			Help: "Times Telegram's update ids went down (a week without updates, another Bot API server) and a new id-space epoch started.",
		}),
		typing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_typing_calls_total",
			Help: "sendChatAction typing calls of typing_after, by outcome (sent, failed, dropped: over typing_rate, not made).",
		}, []string{"outcome"}),
		cbAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_callback_answers_total",
			Help: "Callback queries asgigram answered itself after callback_answer_after, by outcome (ok, failed).",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_botapi_rate_limited_total",
			Help: "429 answers from Telegram that were waited out (retry_after), by method.",
		}, []string{"method"}),
		lifecycle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asgigram_lifecycle_events_total",
			Help: "Lifecycle events of lifecycle_events POSTed to the application, by event (startup, shutdown, scope_opened, scope_closed) and outcome (ok; failed: not taken, best effort, no dead letter).",
		}, []string{"event", "outcome"}),
	}
	reg.MustRegister(m.updates, m.deliveries, m.deadLetters, m.idResets, m.appLatency, m.replyCalls, m.apiCalls, m.apiDuration, m.rateLimited, m.typing, m.cbAnswers, m.lifecycle)
	if g.Scopes != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asgigram_scopes",
			Help: "Live scopes (chats and users seen within scope_idle_timeout).",
		}, func() float64 { return float64(g.Scopes()) }))
	}
	if g.Pending != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asgigram_pending_updates",
			Help: "Updates fetched and not yet finished (queued or in delivery).",
		}, func() float64 { return float64(g.Pending()) }))
	}
	for _, k := range telegram.UpdateKindNames() {
		m.updates.WithLabelValues(k)
	}
	m.deadLetters.WithLabelValues(adapter.DeadDelivery)
	m.deadLetters.WithLabelValues(adapter.DeadReply)
	m.deadLetters.WithLabelValues(adapter.DeadSpool)
	return m
}

// Handler serves the registry of m, every bot's metrics, in the
// Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.r.Handler() }

// Received counts a fetched update (adapter.Options.OnReceived).
func (m *Metrics) Received(eventType string) {
	kind := strings.TrimPrefix(eventType, "telegram.")
	if _, known := telegram.LookupUpdateKind(kind); !known {
		kind = "other"
	}
	m.updates.WithLabelValues(kind).Inc()
}

// Delivered counts a finished delivery (adapter.Options.OnDelivery).
func (m *Metrics) Delivered(t adapter.Trace) {
	class := "none"
	if t.Status >= 100 && t.Status < 600 {
		class = string(rune('0'+t.Status/100)) + "xx"
	}
	outcome := "ok"
	switch t.Failed {
	case adapter.DeadReply:
		outcome = "reply_error"
	case adapter.DeadDelivery:
		outcome = "failed"
	}
	m.deliveries.WithLabelValues(outcome, class).Inc()
	if t.Status != 0 {
		m.appLatency.Observe(t.Latency.Seconds())
	}
	for _, c := range t.Calls {
		switch {
		case c.Skipped != "":
			m.replyCalls.WithLabelValues("skipped").Inc()
		case c.Err != nil:
			m.replyCalls.WithLabelValues("error").Inc()
		default:
			m.replyCalls.WithLabelValues("ok").Inc()
		}
	}
}

// Typing counts a typing call of typing_after (adapter.Options.OnTyping).
func (m *Metrics) Typing(c adapter.TypingCall) {
	switch {
	case c.Dropped:
		m.typing.WithLabelValues("dropped").Inc()
	case c.Err != nil:
		m.typing.WithLabelValues("failed").Inc()
	default:
		m.typing.WithLabelValues("sent").Inc()
	}
}

// CallbackAnswered counts a callback query asgigram answered itself
// (adapter.Options.OnCallbackAnswer).
func (m *Metrics) CallbackAnswered(_ string, err error) {
	if err != nil {
		m.cbAnswers.WithLabelValues("failed").Inc()
		return
	}
	m.cbAnswers.WithLabelValues("ok").Inc()
}

// Lifecycle counts a lifecycle event POST (adapter.Options.OnLifecycle),
// by its event type without the "asgigram." prefix.
func (m *Metrics) Lifecycle(t adapter.Trace) {
	event := "other"
	switch t.Type {
	case adapter.EventStartup, adapter.EventShutdown, adapter.EventScopeOpened, adapter.EventScopeClosed:
		event = strings.TrimPrefix(t.Type, "asgigram.")
	}
	outcome := "ok"
	if t.Err != nil {
		outcome = "failed"
	}
	m.lifecycle.WithLabelValues(event, outcome).Inc()
}

// DeadLetter counts a dead letter (adapter.Options.OnDeadLetter).
func (m *Metrics) DeadLetter(kind string) {
	if kind != adapter.DeadDelivery && kind != adapter.DeadReply && kind != adapter.DeadSpool {
		kind = "other"
	}
	m.deadLetters.WithLabelValues(kind).Inc()
}

// UpdateIDReset counts a new id-space epoch (adapter.Options.OnUpdateIDReset).
func (m *Metrics) UpdateIDReset() { m.idResets.Inc() }

// Called counts a Bot API call (telegram.Options.Observe).
func (m *Metrics) Called(s telegram.CallStats) {
	method := "other"
	if info, ok := telegram.LookupMethod(s.Method); ok {
		method = info.Name
	}
	m.apiCalls.WithLabelValues(method, s.Outcome).Inc()
	m.apiDuration.WithLabelValues(method).Observe(s.Duration.Seconds())
	if s.RateLimited > 0 {
		m.rateLimited.WithLabelValues(method).Add(float64(s.RateLimited))
	}
}
