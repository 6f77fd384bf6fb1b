package secrettest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestAssertNoKeyFindsEveryForm(t *testing.T) {
	const key = "sk-abc_DEF-123"
	forms := Forms(key)
	leaks := map[string]error{
		"plain message":     errors.New("bad key " + key),
		"wrapped":           fmt.Errorf("outer: %w", errors.New("inner "+key)),
		"joined":            fmt.Errorf("outer: %w", errors.Join(errors.New("a"), errors.New(key))),
		"escaped":           errors.New(`metadata: {"raw":"` + forms[1] + `"}`),
		"escaped twice":     errors.New(`metadata: {"raw":"{\"k\":\"` + forms[2] + `\"}"}`),
		"escaped in a name": errors.New(`{"` + forms[1] + `":1}`),
	}
	for name, err := range leaks {
		r := &recorder{TB: t}
		AssertNoKey(r, key, err)
		if !r.failed {
			t.Errorf("%s: the key in %q went unnoticed", name, err)
		}
	}
	r := &recorder{TB: t}
	AssertNoKey(r, key, errors.New("fine"), "an envelope with "+key)
	if !r.failed {
		t.Error("the key in an extra text went unnoticed")
	}
	r = &recorder{TB: t}
	AssertNoKey(r, key, fmt.Errorf("x: %w", errors.New(`{"raw":"[redacted]","n":1}`)))
	if r.failed {
		t.Error("a clean error failed")
	}
	if !slices.Contains(JSONStrings(`{"a":["{\"b\":\"c\"}"]}`), "c") {
		t.Error("JSONStrings does not decode nested documents")
	}
}
