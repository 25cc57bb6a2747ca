package telegram

import (
	"strings"
	"testing"
)

// TestListedMethodsFollowTheNameRules: the Safe and Paced columns agree with
// the rules that judge the methods not listed, so a method of a newer Bot
// API is treated as its listed neighbours are, before and after it is
// added to the catalogue.
func TestListedMethodsFollowTheNameRules(t *testing.T) {
	for _, m := range methodList {
		for _, name := range []string{m.Name, strings.ToLower(m.Name), strings.ToUpper(m.Name)} {
			if got := safeByName(name); got != m.Safe {
				t.Errorf("%s: Safe is %v, the name rule says %v", name, m.Safe, got)
			}
			if got := pacedByName(name); got != m.Paced {
				t.Errorf("%s: Paced is %v, the name rule says %v", name, m.Paced, got)
			}
			if Safe(name) != m.Safe || Paced(name) != m.Paced || Refused(name) != m.Refused {
				t.Errorf("%s: Safe/Paced/Refused do not read the catalogue's row %+v", name, m)
			}
		}
	}
}
