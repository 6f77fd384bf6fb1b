package llmproxy

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"github.com/subosito/gotenv"
)

// EnvPrefix is the prefix of the environment variables that override the
// global settings of a config file: PROXY_API_PORT overrides port,
// PROXY_API_API_KEYS overrides api_keys, and so on.
const EnvPrefix = "PROXY_API_"

// DefaultMaxRetries is the max_retries of a provider in a config file that
// does not set it. A ProviderConfig built in code keeps MaxRetries 0, which
// means no retries.
const DefaultMaxRetries = 2

// LoadConfig reads the YAML config file at path, applies the environment
// overrides and returns the configuration with its defaults applied and its
// provider keys resolved. It is LoadConfigEnv with the process environment.
func LoadConfig(path string) (Config, error) {
	return LoadConfigEnv(path, os.LookupEnv)
}

// LoadConfigEnv is LoadConfig with the environment given by lookupEnv (nil
// means an empty environment), for tests and for programs that run several
// proxies with different environments. It never changes the process
// environment.
//
// The file holds the global keys of Config and a providers list of
// ProviderConfig, named by their mapstructure tags. Times are seconds, as
// integers or decimals (retry_delay: 0.5); a Go duration string such as
// "1500ms" is accepted too. Absent keys take the defaults given in the
// comments of Config and ProviderConfig, as zero fields do in code; in
// addition a provider without max_retries gets DefaultMaxRetries, and one
// without enabled is enabled. An explicit priority below 1 is an error. Keys are case-insensitive, so the names in
// custom_headers arrive lowercased; HTTP header names are case-insensitive,
// so this changes nothing on the wire.
//
// A .env file in the directory of the config file is read if present. Its
// variables count as environment variables, but the real environment
// (lookupEnv) wins over them; a variable set to the empty string counts as
// unset, so that an empty variable never switches authentication off or
// blanks a setting by accident.
//
// Global scalar keys are overridden by EnvPrefix and the key in upper case
// (PROXY_API_PORT=9000, PROXY_API_DEBUG=true, PROXY_API_REQUEST_TIMEOUT=30);
// the list keys api_keys and cors_origins take a comma-separated value
// (PROXY_API_API_KEYS=key1,key2). The environment beats the file.
//
// Each provider's APIKey is read from the first variable of its
// api_key_env (one name or a list of names) that is set; none set is not
// an error here (New disables the provider with a warning). ConfigFile is set to path unless the file or
// the environment sets config_file.
//
// The error reports every problem found, one per line, each prefixed with
// path and wrapping a *ConfigError that names the field (errors.As finds
// them): unknown keys, values of the wrong type, and everything
// Config.Validate rejects. A missing file is an error that matches
// fs.ErrNotExist.
func LoadConfigEnv(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, &configNotFoundError{path: path}
		}
		return Config{}, fmt.Errorf("config file %q: %w", path, err)
	}

	// Parse with viper's YAML codec, then hand the map to viper, which
	// lowercases its keys in place (viper's keys are case-insensitive).
	// The lowercased map stays at hand to tell absent keys from zero ones.
	dec, err := viper.NewCodecRegistry().Decoder("yaml")
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	raw := map[string]any{}
	if err := dec.Decode(data, raw); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	modelKeyed := takeModelMaps(raw)
	v := viper.New()
	if err := v.MergeConfigMap(raw); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}

	dotenvPath := filepath.Join(filepath.Dir(path), ".env")
	dotenv, err := readDotenv(dotenvPath)
	if err != nil {
		return Config{}, err
	}
	lookup := func(name string) (string, bool) {
		if val, ok := lookupEnv(name); ok && val != "" {
			return val, true
		}
		if val, ok := dotenv[name]; ok && val != "" {
			return val, true
		}
		return "", false
	}

	var errs []error
	errs = append(errs, unknownKeys(raw)...)
	errs = append(errs, applyEnvOverrides(v, lookup)...)

	var cfg Config
	md, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: configDecodeHook,
		Result:     &cfg,
		TagName:    "mapstructure",
	})
	if err != nil {
		return Config{}, err
	}
	errs = append(errs, decodeErrors(md.Decode(v.AllSettings()))...)
	errs = append(errs, modelKeyed.decode(&cfg)...)
	cfg.applyFileDefaults(v.IsSet)

	reported := map[string]bool{}
	for _, e := range errs {
		var ce *ConfigError
		if errors.As(e, &ce) {
			reported[ce.Field] = true
		}
	}

	// Provider keys whose meaning in the file differs from the zero value
	// of ProviderConfig.
	rawProviders, _ := raw["providers"].([]any)
	for i := range cfg.Providers {
		var rp map[string]any
		if i < len(rawProviders) {
			rp, _ = rawProviders[i].(map[string]any)
		}
		p := &cfg.Providers[i]
		field := fmt.Sprintf("providers[%d].priority", i)
		// An explicit priority must be >= 1: 0 would otherwise silently
		// become the default, 1. Negative values are caught here too, so
		// Validate's report of them is dropped as a duplicate below.
		if rp["priority"] != nil && p.Priority < 1 && !reported[field] {
			errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf("must be >= 1, got %d", p.Priority)})
			reported[field] = true
		}
		if rp["max_retries"] == nil {
			p.MaxRetries = DefaultMaxRetries
		}
	}

	if cfg.ConfigFile == "" {
		cfg.ConfigFile = path
	}

	// Validate before the defaults are applied: a default derived from a
	// bad value (first_token_timeout from a negative timeout) would report
	// the same mistake twice. Findings about fields already reported, or
	// inside them, are consequences of the same problem, not new ones.
	for _, e := range configLeafErrors(cfg.Validate()) {
		var ce *ConfigError
		if errors.As(e, &ce) && fieldCoveredBy(ce.Field, reported) {
			continue
		}
		errs = append(errs, e)
	}

	if len(errs) > 0 {
		wrapped := make([]error, len(errs))
		for i, e := range errs {
			wrapped[i] = fmt.Errorf("%s: %w", path, e)
		}
		return Config{}, errors.Join(wrapped...)
	}

	keys := make([]Secret, len(cfg.Providers))
	several := make([][]ProviderKey, len(cfg.Providers))
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		p.applyTypeDefaults() // a preset's own key variables
		if _, val, ok := p.APIKeyEnv.Lookup(lookup); ok {
			keys[i] = Secret(val)
		}
		several[i] = lookupKeys(p.APIKeysEnv, lookup)
	}
	clientKeys := make([]Secret, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if _, val, ok := k.KeyEnv.Lookup(lookup); ok {
			clientKeys[i] = Secret(val)
		}
	}
	cfg = cfg.withDefaults()
	// withDefaults falls back to the process environment for keys still
	// unset; LoadConfigEnv reads them from lookupEnv and .env only.
	for i := range cfg.Providers {
		cfg.Providers[i].APIKey = keys[i]
		cfg.Providers[i].APIKeys = several[i]
	}
	for i := range cfg.Keys {
		cfg.Keys[i].Key = clientKeys[i]
	}
	return cfg, nil
}

// modelMaps holds the maps of a config file whose keys are model names
// (model_aliases, each provider's model_map and deployments), taken out of the file
// before viper reads it: viper lowercases keys and splits them at dots,
// and model names have both (Meta-Llama-3.1-8B, gpt-4.1). To keep the
// keys of another such map verbatim, add it to takeModelMaps and decode.
type modelMaps struct {
	aliases any // the value of model_aliases, or nil
	// providers holds, by provider index, the values of its maps keyed by
	// model names, by their field name (model_map, deployments).
	providers map[int]map[string]any
}

// providerModelMaps are the keys of a provider whose values are maps
// keyed by model names.
var providerModelMaps = []string{"model_map", "deployments"}

// takeModelMaps removes the maps keyed by model names from raw (the file
// as parsed, its keys as written) and returns them. The keys that hold
// them match case-insensitively, as every key of the file does.
func takeModelMaps(raw map[string]any) modelMaps {
	var m modelMaps
	for k, v := range raw {
		switch {
		case strings.EqualFold(k, "model_aliases"):
			m.aliases = v
			delete(raw, k)
		case strings.EqualFold(k, "providers"):
			ps, _ := v.([]any)
			for i, p := range ps {
				pm, _ := p.(map[string]any)
				for pk, pv := range pm {
					for _, name := range providerModelMaps {
						if !strings.EqualFold(pk, name) {
							continue
						}
						if m.providers == nil {
							m.providers = map[int]map[string]any{}
						}
						if m.providers[i] == nil {
							m.providers[i] = map[string]any{}
						}
						m.providers[i][name] = pv
						delete(pm, pk)
					}
				}
			}
		}
	}
	return m
}

// decode sets the maps of m into cfg, whose providers are decoded, and
// returns the problems found, named as the other fields are.
func (m modelMaps) decode(cfg *Config) []error {
	var errs []error
	if m.aliases != nil {
		var dst struct {
			ModelAliases map[string][]string `mapstructure:"model_aliases"`
		}
		errs = append(errs, decodeModelMap(map[string]any{"model_aliases": m.aliases}, &dst, "")...)
		cfg.ModelAliases = dst.ModelAliases
	}
	for i, maps := range m.providers {
		if i >= len(cfg.Providers) {
			continue
		}
		var dst struct {
			ModelMap    map[string]string `mapstructure:"model_map"`
			Deployments map[string]string `mapstructure:"deployments"`
		}
		errs = append(errs, decodeModelMap(maps, &dst, fmt.Sprintf("providers[%d].", i))...)
		if dst.ModelMap != nil {
			cfg.Providers[i].ModelMap = dst.ModelMap
		}
		if dst.Deployments != nil {
			cfg.Providers[i].Deployments = dst.Deployments
		}
	}
	return errs
}

// decodeModelMap decodes src into dst as the rest of the file is decoded,
// the fields of its problems prefixed with prefix.
func decodeModelMap(src map[string]any, dst any, prefix string) []error {
	md, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: configDecodeHook, Result: dst, TagName: "mapstructure",
	})
	if err != nil {
		return []error{err}
	}
	errs := decodeErrors(md.Decode(src))
	for _, e := range errs {
		var ce *ConfigError
		if errors.As(e, &ce) {
			ce.Field = prefix + ce.Field
		}
	}
	return errs
}

// configNotFoundError is the error of LoadConfig for a missing file.
type configNotFoundError struct{ path string }

func (e *configNotFoundError) Error() string {
	return fmt.Sprintf("config file %q not found", e.path)
}

func (e *configNotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// readDotenv parses the .env file at path; a missing file is no error.
func readDotenv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env, err := gotenv.StrictParse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// structKeys returns the mapstructure names of the fields of the struct type t.
func structKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// unknownKeys reports the keys of the (lowercased) file that match no
// field, at top level and in each provider.
func unknownKeys(raw map[string]any) []error {
	var errs []error
	check := func(m map[string]any, prefix string, known []string) {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if slices.Contains(known, k) {
				continue
			}
			problem := "unknown key"
			if s := closestKey(k, known); s != "" {
				problem += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &ConfigError{Field: prefix + k, Problem: problem})
		}
	}
	check(raw, "", structKeys(reflect.TypeFor[Config]()))
	if ks, ok := raw["keys"].([]any); ok {
		known := structKeys(reflect.TypeFor[KeyConfig]())
		for i, k := range ks {
			if m, ok := k.(map[string]any); ok {
				check(m, fmt.Sprintf("keys[%d].", i), known)
			}
		}
	}
	if ps, ok := raw["pricing"].(map[string]any); ok {
		known := structKeys(reflect.TypeFor[ModelPrice]())
		for model, pr := range ps {
			if m, ok := pr.(map[string]any); ok {
				check(m, "pricing."+model+".", known)
			}
		}
	}
	if ps, ok := raw["providers"].([]any); ok {
		known := structKeys(reflect.TypeFor[ProviderConfig]())
		for i, p := range ps {
			if m, ok := p.(map[string]any); ok {
				check(m, fmt.Sprintf("providers[%d].", i), known)
			}
		}
	}
	return errs
}

// closestKey returns the known key within edit distance 2 of k, if any.
func closestKey(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := keyDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// keyDistance is the Levenshtein distance between a and b (bytes).
func keyDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	configDurationType = reflect.TypeFor[time.Duration]()
	configEnvNamesType = reflect.TypeFor[EnvNames]()
)

// applyEnvOverrides sets the global scalar and list keys that have an
// EnvPrefix variable, parsed to the field's type, as viper overrides.
func applyEnvOverrides(v *viper.Viper, lookup func(string) (string, bool)) []error {
	var errs []error
	for f := range reflect.TypeFor[Config]().Fields() {
		key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if key == "" || key == "-" || key == "providers" || key == "keys" || key == "pricing" {
			continue
		}
		name := EnvPrefix + strings.ToUpper(key)
		val, ok := lookup(name)
		if !ok {
			continue
		}
		parsed, err := parseEnvValue(f.Type, val)
		if err != nil {
			errs = append(errs, &ConfigError{Field: key, Problem: fmt.Sprintf("%v (from %s)", err, name)})
			continue
		}
		v.Set(key, parsed)
	}
	return errs
}

// parseEnvValue converts the text of an environment variable to a value of
// type t.
func parseEnvValue(t reflect.Type, s string) (any, error) {
	if t == configDurationType {
		return configDuration(strings.TrimSpace(s))
	}
	switch t.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("must be true or false, got %q", s)
		}
		return b, nil
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("must be an integer, got %q", s)
		}
		return n, nil
	case reflect.Slice:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("must be a comma-separated list, got %q", s)
		}
		return list, nil
	}
	return nil, fmt.Errorf("cannot be set from the environment")
}

// configDecodeHook checks each value of the file against the type of its
// field, so that a wrong type is reported in words, and turns numbers of
// seconds (or duration strings) into time.Duration.
func configDecodeHook(from, to reflect.Value) (any, error) {
	data := from.Interface()
	switch to.Type() {
	case configDurationType:
		return configDuration(data)
	case configEnvNamesType:
		// One name or a list of them; "" means none, as an absent key.
		switch d := data.(type) {
		case string:
			if d == "" {
				return EnvNames(nil), nil
			}
			return EnvNames{d}, nil
		case []any, []string:
			return data, nil
		}
		return nil, fmt.Errorf("must be a variable name or a list of them, got %s", describeConfigValue(data))
	}
	switch to.Kind() {
	case reflect.String:
		if _, ok := data.(string); !ok {
			return nil, fmt.Errorf("must be a string, got %s (quote it if it is meant as text)", describeConfigValue(data))
		}
	case reflect.Bool:
		if _, ok := data.(bool); !ok {
			return nil, fmt.Errorf("must be true or false, got %s", describeConfigValue(data))
		}
	case reflect.Int:
		return configInt(data)
	case reflect.Slice:
		if from.Kind() != reflect.Slice {
			return nil, fmt.Errorf("must be a list, got %s", describeConfigValue(data))
		}
	case reflect.Map, reflect.Struct:
		if from.Kind() != reflect.Map {
			return nil, fmt.Errorf("must be a mapping, got %s", describeConfigValue(data))
		}
	}
	return data, nil
}

// describeConfigValue shows a value of the file in an error message.
func describeConfigValue(data any) string {
	switch d := data.(type) {
	case string:
		return strconv.Quote(d)
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return fmt.Sprint(data)
}

// configInt accepts integers and integral floats.
func configInt(data any) (int, error) {
	rv := reflect.ValueOf(data)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n < math.MinInt || n > math.MaxInt {
			return 0, fmt.Errorf("is out of range: %d", n)
		}
		return int(n), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := rv.Uint()
		if n > math.MaxInt {
			return 0, fmt.Errorf("is out of range: %d", n)
		}
		return int(n), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f == math.Trunc(f) && f >= math.MinInt && f <= math.MaxInt {
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("must be an integer, got %s", describeConfigValue(data))
}

// maxDurationSeconds is the largest number of seconds a time.Duration holds.
const maxDurationSeconds = float64(math.MaxInt64 / int64(time.Second))

// configDuration converts a number of seconds, a numeric string or a Go
// duration string to a time.Duration. Negative values pass, for Validate
// to report.
func configDuration(data any) (time.Duration, error) {
	if d, ok := data.(time.Duration); ok {
		return d, nil
	}
	bad := fmt.Errorf("must be a number of seconds (e.g. 30 or 0.5), got %s", describeConfigValue(data))
	var secs float64
	rv := reflect.ValueOf(data)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		secs = float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		secs = float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		secs = rv.Float()
	case reflect.String:
		s := strings.TrimSpace(rv.String())
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil {
				return 0, bad
			}
			return d, nil
		}
		secs = f
	default:
		return 0, bad
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, bad
	}
	if math.Abs(secs) > maxDurationSeconds {
		return 0, fmt.Errorf("is out of range: %v seconds", secs)
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// decodeErrors turns the errors of mapstructure into *ConfigError values
// named by the field's path ("providers[0].timeout").
func decodeErrors(err error) []error {
	// mapstructure wraps the joined errors in one message; unwrap to them.
	for err != nil {
		if _, ok := err.(interface{ Unwrap() []error }); ok {
			break
		}
		if _, ok := err.(*mapstructure.DecodeError); ok {
			break
		}
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	var out []error
	for _, e := range configLeafErrors(err) {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			out = append(out, e)
			continue
		}
		field := de.Name()
		if field == "" {
			field = "(file)"
		}
		problem := decodeProblem(de.Unwrap())
		if sensitiveField(field) {
			// Client keys and header values (Authorization) must not end
			// up in logs through an error message.
			problem, _, _ = strings.Cut(problem, ", got ")
			problem += " (value not shown)"
		}
		out = append(out, &ConfigError{Field: field, Problem: problem})
	}
	return out
}

// sensitiveField reports whether the value of field may be a credential.
func sensitiveField(field string) bool {
	return field == "api_keys" || strings.HasPrefix(field, "api_keys[") ||
		strings.Contains(field, ".custom_headers")
}

// decodeProblem words an error mapstructure found itself (the decode hook
// catches most of them first).
func decodeProblem(err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot be read as %s: %s", pe.Expected.Type(), describeConfigValue(pe.Value))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Sprintf("cannot be read as %s: %s", ue.Expected.Type(), describeConfigValue(ue.Value))
	}
	return err.Error()
}

// configLeafErrors flattens a tree of joined errors.
func configLeafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, configLeafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// fieldCoveredBy reports whether field is, or lies inside, a reported field.
func fieldCoveredBy(field string, reported map[string]bool) bool {
	for r := range reported {
		if field == r || strings.HasPrefix(field, r+".") || strings.HasPrefix(field, r+"[") {
			return true
		}
	}
	return false
}
