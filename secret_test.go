package llmproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretNeverPrinted logs and prints a Secret directly, every way a
// program might, and fails if the value shows.
func TestSecretNeverPrinted(t *testing.T) {
	const key = "sk-secret-LOGVALUE-3e7a1c9f"
	s := Secret(key)
	var out bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		log := slog.New(h)
		log.Info("key", "api_key", s)
		log.Info("key", slog.Any("api_key", s), slog.Group("provider", slog.Any("key", s)))
		log.With("api_key", s).Debug("bound")
		log.LogAttrs(context.Background(), slog.LevelWarn, "attrs", slog.Any("key", s), slog.Any("ptr", &s))
		log.WithGroup("g").Info("in a group", "key", s)
		log.Info("in a value", "cfg", ProviderConfig{Name: "p", APIKey: s}, "keys", []Secret{s})
	}
	logs := out.String()
	assert.NotContains(t, logs, key)
	assert.Contains(t, logs, `"api_key":"[redacted]"`, "the JSON handler shows the key redacted")
	assert.Contains(t, logs, `api_key=[redacted]`, "the text handler shows the key redacted")

	assert.Equal(t, slog.KindString, s.LogValue().Kind())
	assert.Equal(t, "[redacted]", s.LogValue().String())
	assert.Equal(t, "", Secret("").LogValue().String(), "an unset secret logs empty")

	printed := fmt.Sprintf("%v %+v %#v %s %q %x %X", s, s, s, s, s, s, s)
	printed += fmt.Sprint(s) + fmt.Sprintf("%v %+v", &s, struct{ K Secret }{s})
	assert.NotContains(t, printed, key)
	js, err := json.Marshal(map[string]Secret{"k": s})
	require.NoError(t, err)
	assert.JSONEq(t, `{"k":"[redacted]"}`, string(js))
	assert.Equal(t, key, s.Reveal(), "Reveal is the one way to the value")
}
