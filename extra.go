package llmproxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Extra holds the JSON members of an object that the proxy does not model,
// keyed by member name, each value kept as the exact bytes that arrived.
// Types that carry an Extra field decode unknown members into it and encode
// them back unchanged, so that nothing a client or an upstream sends is lost
// on the way through the proxy. A nil Extra encodes nothing.
type Extra map[string]json.RawMessage

// knownFieldsCache maps a struct type to the set of JSON member names its
// fields claim. It is filled lazily and never changes for a type, so sharing
// it between proxies is safe.
var knownFieldsCache sync.Map // reflect.Type -> map[string]struct{}

// knownFields returns the JSON member names claimed by the exported fields
// of the struct type t.
func knownFields(t reflect.Type) map[string]struct{} {
	if v, ok := knownFieldsCache.Load(t); ok {
		return v.(map[string]struct{})
	}
	names := make(map[string]struct{}, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names[name] = struct{}{}
	}
	v, _ := knownFieldsCache.LoadOrStore(t, names)
	return v.(map[string]struct{})
}

// unmarshalWithExtra decodes data into dst (a pointer to a struct without
// custom JSON methods) and returns the members that dst's fields do not
// claim. It returns a nil Extra when every member is known.
//
// Member names match fields exactly, as they do for the upstreams (Python's
// and JavaScript's parsers), and not without regard to case as
// encoding/json matches them: a "MODEL" or "Messages" member is kept in
// Extra and does not set the field, so that the proxy never routes or
// validates on a value the upstream does not read.
func unmarshalWithExtra(data []byte, dst any) (Extra, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	known := knownFields(reflect.TypeOf(dst).Elem())
	var extra Extra
	folded := false
	for k, v := range all {
		if _, ok := known[k]; ok {
			continue
		}
		if extra == nil {
			extra = make(Extra, len(all)-len(known))
		}
		extra[k] = v
		folded = folded || foldsToKnown(k, known)
	}
	if folded {
		// encoding/json would decode these members into the fields too:
		// decode from the exactly named members only, each value as the
		// bytes that came (json.Marshal would escape them anew).
		var b bytes.Buffer
		b.WriteByte('{')
		for k, v := range all {
			if _, ok := known[k]; !ok {
				continue
			}
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			kb, err := json.Marshal(k)
			if err != nil {
				return nil, err
			}
			b.Write(kb)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
		data = b.Bytes()
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return nil, err
	}
	return extra, nil
}

// foldsToKnown reports whether name, not itself a known member, equals one
// under Unicode case folding (the matching encoding/json does).
func foldsToKnown(name string, known map[string]struct{}) bool {
	for k := range known {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// marshalWithExtra encodes v (a struct without custom JSON methods) and
// appends the members of extra that v's fields do not claim, in key order so
// that the output is deterministic.
func marshalWithExtra(v any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	known := knownFields(reflect.TypeOf(v).Elem())
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, ok := known[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b, nil
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Grow(len(b) + 32*len(keys))
	buf.Write(b[:len(b)-1]) // drop the closing brace
	empty := len(b) == 2    // "{}"
	for _, k := range keys {
		val := extra[k]
		if len(val) == 0 {
			continue
		}
		if !empty {
			buf.WriteByte(',')
		}
		empty = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Present returns the member key unless it is absent or null, without the
// white space around it. Translating adapters use it to read the members
// of a request they map but the proxy does not model.
func (x Extra) Present(key string) (json.RawMessage, bool) {
	v := bytes.TrimSpace(x[key])
	if len(v) == 0 || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// Number returns the member key as a number, nil when it is absent or
// null, and an invalid-request error naming the member when it is not a
// number.
func (x Extra) Number(key string) (*float64, error) {
	v, ok := x.Present(key)
	if !ok {
		return nil, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, &Error{Kind: KindInvalidRequest, Param: key, Message: key + " must be a number"}
	}
	return &f, nil
}
