package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asgigram/asgigram/config"
)

var deadLettersUsage = `Usage: asgigram deadletters list|show ID|replay ID|drop ID [flags]

Inspects the dead letters of a running asgigram through its admin endpoints
(enabled by admin_token).

  list        the dead letters, oldest first
  show ID     one dead letter as JSON, with its update
  replay ID   deliver its update again, behind its scope's backlog
  drop ID     delete it

It takes listen, admin_url and admin_token like asgigram itself (flag,
ASGIGRAM_* variable or key of the config file), so with the configuration of
the running asgigram it finds it. admin_token is required: prefer the
variable or the file, flags show in ps.

With several bots (the config file's bots: list), --bot NAME says whose
dead letters: it is required when the file has more than one.

Flags:
` + config.DeadLettersFlagsUsage()

// runDeadLetters is the "deadletters" subcommand: a client of the admin
// endpoints.
func (m *Main) runDeadLetters(args []string) int {
	cfg, rest, err := config.LoadDeadLetters(args, m.Stderr)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(m.Stderr, deadLettersUsage)
		return ExitOK
	case len(rest) == 0:
		// Without a command, only the usage; a missing admin_token is no
		// news then.
		if fe := new(config.FieldError); err != nil && !(errors.As(err, &fe) && fe.Field == "admin_token") {
			fmt.Fprintf(m.Stderr, "asgigram deadletters: %v\n\n", err)
		}
		fmt.Fprint(m.Stderr, deadLettersUsage)
		return ExitConfig
	case err != nil:
		fmt.Fprintf(m.Stderr, "asgigram deadletters: %v\n", err)
		return ExitConfig
	}
	adminURL := &cfg.AdminURL
	base := strings.TrimRight(*adminURL, "/") + "/admin/deadletters"
	if cfg.BotName != "" {
		base = strings.TrimRight(*adminURL, "/") + "/admin/bots/" + cfg.BotName + "/deadletters"
	}
	var method, url string
	switch {
	case rest[0] == "list" && len(rest) == 1:
		method, url = http.MethodGet, base
	case rest[0] == "show" && len(rest) == 2:
		method, url = http.MethodGet, base+"/"+rest[1]
	case rest[0] == "replay" && len(rest) == 2:
		method, url = http.MethodPost, base+"/"+rest[1]+"/replay"
	case rest[0] == "drop" && len(rest) == 2:
		method, url = http.MethodDelete, base+"/"+rest[1]
	default:
		fmt.Fprint(m.Stderr, deadLettersUsage)
		return ExitConfig
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		fmt.Fprintf(m.Stderr, "asgigram deadletters: %v\n", err)
		return ExitConfig
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintf(m.Stderr, "asgigram deadletters: cannot reach asgigram at %s: %v\n", *adminURL, err)
		return ExitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	var answer struct {
		OK          bool              `json:"ok"`
		Description string            `json:"description"`
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		fmt.Fprintf(m.Stderr, "asgigram deadletters: unexpected answer (HTTP %d) from %s\n", resp.StatusCode, *adminURL)
		return ExitFailure
	}
	if !answer.OK {
		fmt.Fprintf(m.Stderr, "asgigram deadletters: %s (HTTP %d)\n", answer.Description, resp.StatusCode)
		return ExitFailure
	}
	if rest[0] == "list" {
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tUPDATE\tSCOPE\tEVENT\tFAILED AT\tERROR")
		for _, raw := range answer.DeadLetters {
			var dl struct {
				ID        uint64    `json:"id"`
				Kind      string    `json:"kind"`
				UpdateID  int64     `json:"update_id"`
				Epoch     uint32    `json:"update_epoch"`
				Scope     string    `json:"scope"`
				EventType string    `json:"event_type"`
				FailedAt  time.Time `json:"failed_at"`
				Error     string    `json:"error"`
			}
			_ = json.Unmarshal(raw, &dl)
			errText := dl.Error
			if len(errText) > 80 {
				errText = errText[:77] + "..."
			}
			// An update of epoch 1 or later shows as e<epoch>-<update_id>, the
			// end of its webhook-id.
			update := strconv.FormatInt(dl.UpdateID, 10)
			if dl.Epoch > 0 {
				update = "e" + strconv.FormatUint(uint64(dl.Epoch), 10) + "-" + update
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", dl.ID, dl.Kind, update, dl.Scope, dl.EventType, dl.FailedAt.Format(time.RFC3339), errText)
		}
		tw.Flush()
		return ExitOK
	}
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") == nil {
		body = out.Bytes()
	}
	fmt.Fprintln(m.Stdout, string(body))
	return ExitOK
}
