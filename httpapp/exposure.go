package httpapp

import (
	"fmt"
	"net"
	"strings"
)

// ExposureWarning returns the warning to log when the local server listens
// on addr (as given to listen, or as the listener reports it) reachable
// from a network, naming what is then reachable; "" when it listens on a
// loopback address only. admin says whether admin_token is set.
func ExposureWarning(addr string, admin bool) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return ""
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsLoopback() {
		return ""
	}
	reachable := "/send and /file/{file_id} (with a scope token or the send_token), /metrics, /healthz and /readyz (without a token)"
	if admin {
		reachable += ", and /admin (with the admin_token)"
	}
	return fmt.Sprintf("the local server listens on %s, reachable from the network: %s, all over plain HTTP. To keep it private, listen on 127.0.0.1 (or a container's private network) and let applications elsewhere reach it through a TLS reverse proxy that restricts who may connect; see Security in docs/operations.md", addr, reachable)
}
