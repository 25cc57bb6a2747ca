package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

const deadLettersUsage = `Usage: asgigram deadletters list|show ID|replay ID|drop ID [flags]

Inspects the dead letters of a running asgigram through its admin endpoints
(enabled by admin_token).

  list        the dead letters, oldest first
  show ID     one dead letter as JSON, with its update
  replay ID   deliver its update again, behind its scope's backlog
  drop ID     delete it

Flags:
  --admin-url URL      the running asgigram's local server
                       env ASGIGRAM_ADMIN_URL, default http://<ASGIGRAM_LISTEN or 127.0.0.1:8080>
  --admin-token TOKEN  env ASGIGRAM_ADMIN_TOKEN (prefer the env var: flags show in ps)
`

// runDeadLetters is the "deadletters" subcommand: a client of the admin
// endpoints.
func (m *Main) runDeadLetters(args []string) int {
	fs := pflag.NewFlagSet("deadletters", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := os.Getenv("ASGIGRAM_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	defURL := os.Getenv("ASGIGRAM_ADMIN_URL")
	if defURL == "" {
		defURL = "http://" + strings.Replace(listen, "0.0.0.0:", "127.0.0.1:", 1)
		if strings.HasPrefix(listen, ":") {
			defURL = "http://127.0.0.1" + listen
		}
	}
	adminURL := fs.String("admin-url", defURL, "")
	token := fs.String("admin-token", os.Getenv("ASGIGRAM_ADMIN_TOKEN"), "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(m.Stderr, "asgigram deadletters: %v\n\n%s", err, deadLettersUsage)
		return ExitConfig
	}
	rest := fs.Args()
	if *help || len(rest) == 0 {
		fmt.Fprint(m.Stderr, deadLettersUsage)
		if *help {
			return ExitOK
		}
		return ExitConfig
	}
	if *token == "" {
		fmt.Fprintln(m.Stderr, "asgigram deadletters: admin_token: missing: set ASGIGRAM_ADMIN_TOKEN (or --admin-token) to the running asgigram's admin_token")
		return ExitConfig
	}
	base := strings.TrimRight(*adminURL, "/") + "/admin/deadletters"
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
	req.Header.Set("Authorization", "Bearer "+*token)
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
