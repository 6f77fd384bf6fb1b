package jsonx

import "testing"

func TestOpenObject(t *testing.T) {
	for _, c := range []struct {
		in, open string
		more, ok bool
	}{
		{in: `{"a":1}`, open: `{"a":1`, more: true, ok: true},
		{in: " \n{\"a\":1 }\t", open: `{"a":1 `, more: true, ok: true},
		{in: `{}`, open: `{`, ok: true},
		{in: `{ }`, open: `{ `, ok: true},
		{in: `{`},
		{in: `}`},
		{in: `[1]`},
		{in: `"x"`},
		{in: ``},
		{in: "\u00a0{}"}, // not JSON white space
	} {
		open, more, ok := OpenObject([]byte(c.in))
		if string(open) != c.open || more != c.more || ok != c.ok {
			t.Errorf("OpenObject(%q) = %q, %v, %v; want %q, %v, %v", c.in, open, more, ok, c.open, c.more, c.ok)
		}
		if ok && string(open[:len(open)+1])[len(open)] != '}' {
			t.Errorf("OpenObject(%q): the closing brace does not follow open", c.in)
		}
	}
}
