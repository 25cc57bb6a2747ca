package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestConfigurationDocSaysWhereEachKeyGoes: docs/configuration.md's table
// gives every key of the daemon the scope the settings table gives it, and
// names every key of the dev group.
func TestConfigurationDocSaysWhereEachKeyGoes(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range settings {
		switch {
		case s.in(cmdDaemon):
			row := regexp.MustCompile(`(?m)^\| \[` + s.key + `\]\(#[^)]*\) \| ` + s.envName() + ` \|.*\| ([a-z ]+) \|$`).FindStringSubmatch(doc)
			if row == nil {
				t.Errorf("docs/configuration.md has no row for %s ending in its scope", s.key)
			} else if row[1] != s.scope.String() {
				t.Errorf("docs/configuration.md: %s is %q, the table says %q", s.key, row[1], s.scope)
			}
		case !strings.Contains(doc, "`"+s.key+"`"):
			t.Errorf("docs/configuration.md does not name %s", s.key)
		}
	}
}
