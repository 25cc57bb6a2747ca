// Package textwrap folds help text into lines for a terminal.
package textwrap

import "strings"

// Wrap splits text into lines of at most width bytes, at spaces (a word
// longer than width stands on a line of its own).
func Wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}
