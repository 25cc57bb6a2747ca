package textwrap

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		text  string
		width int
		want  []string
	}{
		{"one two three", 7, []string{"one two", "three"}},
		{"  spaced   out  ", 20, []string{"spaced out"}},
		{"averyveryverylongword and more", 8, []string{"averyveryverylongword", "and more"}},
		{"", 10, []string{""}},
	} {
		assert.Equal(t, c.want, Wrap(c.text, c.width), "%q at %d", c.text, c.width)
	}
}
