package gemini

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/llmproxy/llmproxy"
)

// This file translates OpenAI chat requests into Gemini's
// GenerateContentRequest. Its functions are pure: they read their
// arguments, modify none of them and do no I/O. Their errors are
// *llmproxy.Error values of kind KindInvalidRequest without a provider
// name, naming the member at fault in Param.

// generateRequest is the body of :generateContent and
// :streamGenerateContent.
type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
	SafetySettings    json.RawMessage   `json:"safetySettings,omitempty"`
	CachedContent     json.RawMessage   `json:"cachedContent,omitempty"`
}

// content is Gemini's Content: a role ("user" or "model"; none for the
// system instruction) and its parts.
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part is Gemini's Part; one of its data members is set. Answers use the
// same type.
type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

// blob is inline data: a MIME type and base64 bytes.
type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// fileData is data Gemini fetches itself: a Files API URI or a public or
// signed URL.
type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// functionCall is a call the model made; Args is a JSON object.
type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// functionResponse is the result of a call; Response is a JSON object.
type functionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// tool is Gemini's Tool; the adapter only declares functions.
type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

// functionDeclaration declares a function; its parameters are in one of
// the two schema forms (see schema.go), or absent.
type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           map[string]any  `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// generationConfig is Gemini's GenerationConfig.
type generationConfig struct {
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     map[string]any  `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	CandidateCount     *int            `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *float64        `json:"topK,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ThinkingConfig     json.RawMessage `json:"thinkingConfig,omitempty"`
}

// empty reports whether no member is set, so that the config is left out.
func (g *generationConfig) empty() bool {
	b, _ := json.Marshal(g)
	return string(b) == "{}"
}

// thinkingBudgets maps reasoning_effort to a thinking budget in tokens, as
// Google's OpenAI-compatible endpoint maps it.
var thinkingBudgets = map[string]int{
	"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576,
}

// toGenerateRequest translates an OpenAI chat request into Gemini's.
func toGenerateRequest(req *llmproxy.ChatRequest) (*generateRequest, error) {
	out := &generateRequest{}
	var err error
	if out.Contents, out.SystemInstruction, err = toContents(req.Messages, signsCalls(req.Model)); err != nil {
		return nil, err
	}
	if out.Tools, err = toTools(req.Tools); err != nil {
		return nil, err
	}
	if out.ToolConfig, err = toToolConfig(req.ToolChoice, len(out.Tools) > 0); err != nil {
		return nil, err
	}
	g := &generationConfig{Temperature: req.Temperature, TopP: req.TopP, MaxOutputTokens: req.MaxTokens}
	if req.MaxCompletionTokens != nil {
		g.MaxOutputTokens = req.MaxCompletionTokens
	}
	if len(req.Stop) > 0 {
		g.StopSequences = []string(req.Stop)
	}
	if req.N != nil && *req.N > 1 {
		g.CandidateCount = req.N
	}
	if err := setExtras(out, g, req.Extra); err != nil {
		return nil, err
	}
	if !g.empty() {
		out.GenerationConfig = g
	}
	return out, nil
}

// setExtras translates the OpenAI members the proxy does not model and
// passes Gemini's own members through.
func setExtras(out *generateRequest, g *generationConfig, x llmproxy.Extra) error {
	var err error
	if g.PresencePenalty, err = x.Number("presence_penalty"); err != nil {
		return err
	}
	if g.FrequencyPenalty, err = x.Number("frequency_penalty"); err != nil {
		return err
	}
	if seed, ok := x.Present("seed"); ok {
		var n int64
		if json.Unmarshal(seed, &n) != nil || n < math.MinInt32 || n > math.MaxInt32 {
			return invalidParam("seed", "seed must be a 32-bit integer for Gemini")
		}
		g.Seed = &n
	}
	if lp, ok := x.Present("logprobs"); ok && string(lp) != "false" {
		return invalidParam("logprobs", "logprobs are not supported by the Gemini adapter")
	}
	if tl, ok := x.Present("top_logprobs"); ok && string(tl) != "0" {
		return invalidParam("top_logprobs", "top_logprobs are not supported by the Gemini adapter")
	}
	if rf, ok := x.Present("response_format"); ok {
		if err := setResponseFormat(g, rf); err != nil {
			return err
		}
	}
	if re, ok := x.Present("reasoning_effort"); ok {
		var effort string
		_ = json.Unmarshal(re, &effort)
		budget, known := thinkingBudgets[effort]
		if !known {
			return invalidParam("reasoning_effort", "reasoning_effort must be none, minimal, low, medium, high or xhigh")
		}
		if budget == 0 {
			g.ThinkingConfig = json.RawMessage(`{"thinkingBudget":0}`)
		} else {
			g.ThinkingConfig = fmt.Appendf(nil, `{"includeThoughts":true,"thinkingBudget":%d}`, budget)
		}
	}
	// Gemini's own members, in the client's spelling or Gemini's.
	if v, ok := native(x, "thinking_config", "thinkingConfig"); ok {
		tc, err := toThinkingConfig(v)
		if err != nil {
			return err
		}
		g.ThinkingConfig = tc
	}
	if v, ok := native(x, "top_k", "topK"); ok {
		var k float64
		if json.Unmarshal(v, &k) != nil {
			return invalidParam("top_k", "top_k must be a number")
		}
		g.TopK = &k
	}
	if v, ok := native(x, "safety_settings", "safetySettings"); ok {
		var settings []safetySetting
		if decodeStrict(v, &settings) != nil {
			return invalidParam("safety_settings", `safety_settings must be a list of {"category", "threshold"} objects`)
		}
		out.SafetySettings, _ = json.Marshal(settings)
	}
	if v, ok := native(x, "cached_content", "cachedContent"); ok {
		if v[0] != '"' {
			return invalidParam("cached_content", "cached_content must be the name of a Gemini cached content")
		}
		out.CachedContent = v
	}
	return nil
}

// safetySetting is one of Gemini's SafetySettings.
type safetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

// toThinkingConfig checks a client's thinking_config, Gemini's
// ThinkingConfig in its JSON spelling or in snake_case, and returns it in
// Gemini's spelling.
func toThinkingConfig(raw json.RawMessage) (json.RawMessage, error) {
	var in struct {
		IncludeThoughts  *bool   `json:"includeThoughts"`
		IncludeThoughts2 *bool   `json:"include_thoughts"`
		ThinkingBudget   *int32  `json:"thinkingBudget"`
		ThinkingBudget2  *int32  `json:"thinking_budget"`
		ThinkingLevel    *string `json:"thinkingLevel"`
		ThinkingLevel2   *string `json:"thinking_level"`
	}
	if decodeStrict(raw, &in) != nil {
		return nil, invalidParam("thinking_config", "thinking_config must be an object with includeThoughts, thinkingBudget or thinkingLevel")
	}
	out := struct {
		IncludeThoughts *bool   `json:"includeThoughts,omitempty"`
		ThinkingBudget  *int32  `json:"thinkingBudget,omitempty"`
		ThinkingLevel   *string `json:"thinkingLevel,omitempty"`
	}{cmp.Or(in.IncludeThoughts, in.IncludeThoughts2), cmp.Or(in.ThinkingBudget, in.ThinkingBudget2), cmp.Or(in.ThinkingLevel, in.ThinkingLevel2)}
	b, _ := json.Marshal(out)
	return b, nil
}

// decodeStrict decodes raw into v, refusing members v does not have.
func decodeStrict(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// native returns the first of the members names that is present.
func native(x llmproxy.Extra, names ...string) (json.RawMessage, bool) {
	for _, n := range names {
		if v, ok := x.Present(n); ok {
			return v, true
		}
	}
	return nil, false
}

// setResponseFormat translates OpenAI's response_format: text is Gemini's
// default; json_object asks for JSON; json_schema asks for JSON with the
// schema, in the form it fits (see openAPISchema).
func setResponseFormat(g *generationConfig, raw json.RawMessage) error {
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return invalidParam("response_format", "response_format must be an object with a type")
	}
	switch rf.Type {
	case "text":
		return nil
	case "json_object":
		g.ResponseMimeType = "application/json"
		return nil
	case "json_schema":
		g.ResponseMimeType = "application/json"
		if rf.JSONSchema == nil {
			return invalidParam("response_format.json_schema", "response_format json_schema needs a json_schema member")
		}
		s := bytes.TrimSpace(rf.JSONSchema.Schema)
		if len(s) == 0 || string(s) == "null" {
			return nil
		}
		if s[0] != '{' {
			return invalidParam("response_format.json_schema.schema", "the schema must be a JSON object")
		}
		if conv, ok := openAPISchema(s); ok {
			g.ResponseSchema = conv
		} else {
			g.ResponseJSONSchema = s
		}
		return nil
	}
	return invalidParam("response_format.type", "response_format type %q is not supported by Gemini (use text, json_object or json_schema)", rf.Type)
}

// toTools declares the function tools, all in one Gemini tool.
func toTools(tools []llmproxy.Tool) ([]tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	decls := make([]functionDeclaration, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, invalidParam(fmt.Sprintf("tools[%d].type", i), "tool type %q is not supported by Gemini; only function tools are", t.Type)
		}
		if t.Function.Name == "" {
			return nil, invalidParam(fmt.Sprintf("tools[%d].function.name", i), "each function tool needs a name")
		}
		d := functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		params := bytes.TrimSpace(t.Function.Parameters)
		switch {
		case len(params) == 0 || string(params) == "null":
		case params[0] != '{':
			return nil, invalidParam(fmt.Sprintf("tools[%d].function.parameters", i), "parameters must be a JSON Schema object")
		case isEmptyObjectSchema(params):
			// A function without parameters: Gemini wants none declared
			// rather than an object without properties.
		default:
			if conv, ok := openAPISchema(params); ok {
				d.Parameters = conv
			} else {
				d.ParametersJSONSchema = params
			}
		}
		decls = append(decls, d)
	}
	return []tool{{FunctionDeclarations: decls}}, nil
}

// isEmptyObjectSchema reports whether a schema is an object without
// properties ({"type":"object","properties":{}} and the like).
func isEmptyObjectSchema(s json.RawMessage) bool {
	var v struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(s, &all) != nil || json.Unmarshal(s, &v) != nil {
		return false
	}
	for k := range all {
		switch k {
		case "type", "properties", "additionalProperties", "required", "$schema":
		default:
			return false
		}
	}
	return strings.EqualFold(v.Type, "object") && len(v.Properties) == 0
}

// toToolConfig translates tool_choice: auto (or absent) is Gemini's default
// and gives nil; none, required and a named function give the modes NONE,
// ANY and ANY restricted to that function.
func toToolConfig(raw json.RawMessage, haveTools bool) (*toolConfig, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	mode := func(m string, names ...string) (*toolConfig, error) {
		if !haveTools {
			if m == "NONE" {
				return nil, nil
			}
			return nil, invalidParam("tool_choice", "tool_choice %s needs tools", string(raw))
		}
		return &toolConfig{FunctionCallingConfig: functionCallingConfig{Mode: m, AllowedFunctionNames: names}}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return nil, nil
		case "none":
			return mode("NONE")
		case "required":
			return mode("ANY")
		}
		return nil, invalidParam("tool_choice", "tool_choice %q is not supported (use auto, none, required or a function)", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Type == "function" && obj.Function.Name != "" {
		return mode("ANY", obj.Function.Name)
	}
	return nil, invalidParam("tool_choice", "this tool_choice is not supported by Gemini (use auto, none, required or a function)")
}

// toContents translates the conversation: system and developer messages
// into the system instruction, the others into contents, consecutive
// contents of one role merged.
func toContents(msgs []llmproxy.Message, placeholder bool) ([]content, *content, error) {
	var sys *content
	out := make([]content, 0, len(msgs))
	calls := map[string]callRef{} // tool call id → its function and place
	add := func(role string, parts []part) {
		if len(parts) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Parts = append(out[n-1].Parts, parts...)
			return
		}
		out = append(out, content{Role: role, Parts: parts})
	}
	for i := 0; i < len(msgs); i++ {
		m := &msgs[i]
		param := func(field string) string { return fmt.Sprintf("messages[%d].%s", i, field) }
		switch m.Role {
		case "system", "developer":
			text, err := textOnly(m.Content, param("content"), m.Role)
			if err != nil {
				return nil, nil, err
			}
			if text != "" {
				if sys == nil {
					sys = &content{}
				}
				sys.Parts = append(sys.Parts, part{Text: text})
			}
		case "user":
			parts, err := userParts(m.Content, param("content"))
			if err != nil {
				return nil, nil, err
			}
			add("user", parts)
		case "assistant":
			parts, err := modelParts(m, param, calls, placeholder)
			if err != nil {
				return nil, nil, err
			}
			add("model", parts)
		case "tool", "function":
			// The results of one turn's calls travel together, in the
			// order of the calls.
			var results []result
			for ; i < len(msgs) && (msgs[i].Role == "tool" || msgs[i].Role == "function"); i++ {
				r, err := responsePart(&msgs[i], i, calls)
				if err != nil {
					return nil, nil, err
				}
				results = append(results, r)
			}
			i--
			slices.SortStableFunc(results, func(a, b result) int { return a.pos - b.pos })
			parts := make([]part, len(results))
			for k, r := range results {
				parts[k] = r.part
			}
			add("user", parts)
		default:
			return nil, nil, invalidParam(param("role"), "role %q is not supported by Gemini (use system, developer, user, assistant or tool)", m.Role)
		}
	}
	if len(out) == 0 {
		return nil, nil, invalidParam("messages", "Gemini needs at least one user or assistant message with content")
	}
	return out, sys, nil
}

// textOnly returns content that must be text (system messages): a string,
// or text parts joined.
func textOnly(c *llmproxy.Content, param, role string) (string, error) {
	if c == nil {
		return "", nil
	}
	for j, p := range c.Parts {
		if p.Type != "text" {
			return "", invalidParam(fmt.Sprintf("%s[%d].type", param, j), "a %s message may only hold text, not %q", role, p.Type)
		}
	}
	return c.String(), nil
}

// userParts returns a user message's parts: text, images, audio and files.
func userParts(c *llmproxy.Content, param string) ([]part, error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		return textPart(nil, c.Text), nil
	}
	var out []part
	for j, p := range c.Parts {
		pp := fmt.Sprintf("%s[%d]", param, j)
		switch p.Type {
		case "text":
			out = textPart(out, p.Text)
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, invalidParam(pp+".image_url", "an image_url part needs a url")
			}
			ip, err := mediaPart(p.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			out = append(out, ip)
		case "input_audio":
			var a struct {
				Data   string `json:"data"`
				Format string `json:"format"`
			}
			if raw, ok := p.Extra.Present("input_audio"); !ok || json.Unmarshal(raw, &a) != nil || a.Data == "" || a.Format == "" {
				return nil, invalidParam(pp+".input_audio", "an input_audio part needs data and format")
			}
			out = append(out, part{InlineData: &blob{MimeType: "audio/" + a.Format, Data: a.Data}})
		case "file":
			var f struct {
				FileData string `json:"file_data"`
				FileID   string `json:"file_id"`
			}
			raw, _ := p.Extra.Present("file")
			if json.Unmarshal(raw, &f) != nil || (f.FileData == "" && f.FileID == "") {
				return nil, invalidParam(pp+".file", "a file part needs file_data (a data: URL) or file_id (a Gemini file URI)")
			}
			src := f.FileData
			if src == "" {
				src = f.FileID
			}
			fp, err := mediaPart(src, pp+".file")
			if err != nil {
				return nil, err
			}
			out = append(out, fp)
		default:
			return nil, invalidParam(pp+".type", "content part type %q is not supported by Gemini (use text, image_url, input_audio or file)", p.Type)
		}
	}
	return out, nil
}

// textPart appends a text part unless the text is empty: Gemini refuses
// empty text parts.
func textPart(out []part, text string) []part {
	if text == "" {
		return out
	}
	return append(out, part{Text: text})
}

// mediaPart translates a media reference: a base64 data: URL becomes
// inlineData; an http(s) or gs:// URL becomes fileData, which Gemini
// fetches itself, with the MIME type its extension suggests.
func mediaPart(ref, param string) (part, error) {
	if rest, ok := strings.CutPrefix(ref, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mt, isBase64 := strings.CutSuffix(meta, ";base64")
		if !found || !isBase64 || mt == "" || data == "" {
			return part{}, invalidParam(param, "a data: URL must be data:<mime type>;base64,<data>")
		}
		return part{InlineData: &blob{MimeType: mt, Data: data}}, nil
	}
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "gs") || u.Host == "" {
		return part{}, invalidParam(param, "a media reference must be a data: URL or an http(s) or gs:// URL")
	}
	return part{FileData: &fileData{FileURI: ref, MimeType: mime.TypeByExtension(strings.ToLower(path.Ext(u.Path)))}}, nil
}

// modelParts returns an assistant message's parts: its text (refusal parts
// are left out), then one functionCall part per tool call, the first with
// Google's placeholder signature when it has none and placeholder is set.
// It records the calls' function names by id for the tool messages that
// follow.
func modelParts(m *llmproxy.Message, param func(string) string, calls map[string]callRef, placeholder bool) ([]part, error) {
	var out []part
	if m.Content != nil {
		if m.Content.Parts == nil {
			out = textPart(out, m.Content.Text)
		}
		for j, p := range m.Content.Parts {
			switch p.Type {
			case "text":
				out = textPart(out, p.Text)
			case "refusal":
			default:
				return nil, invalidParam(fmt.Sprintf("%s[%d].type", param("content"), j), "an assistant message may only hold text, not %q", p.Type)
			}
		}
	}
	for j, tc := range m.ToolCalls {
		pp := fmt.Sprintf("%s[%d]", param("tool_calls"), j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, invalidParam(pp+".type", "tool call type %q is not supported by Gemini", tc.Type)
		}
		if tc.Function.Name == "" {
			return nil, invalidParam(pp+".function.name", "each tool call needs a function name")
		}
		args := json.RawMessage(strings.TrimSpace(tc.Function.Arguments))
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		if args[0] != '{' || !json.Valid(args) {
			return nil, invalidParam(pp+".function.arguments", "the arguments of a tool call must be a JSON object")
		}
		id, sig := splitToolCallID(tc.ID)
		if j == 0 && sig == "" && placeholder {
			sig = skipSignature
		}
		out = append(out, part{FunctionCall: &functionCall{ID: id, Name: tc.Function.Name, Args: args}, ThoughtSignature: sig})
		if tc.ID != "" {
			calls[tc.ID] = callRef{name: tc.Function.Name, pos: j}
		}
	}
	return out, nil
}

// signsCalls reports whether a model may refuse unsigned function calls in
// the history, so that unsigned ones get the placeholder signature: every
// model but the Gemini 1 and 2 families, which never required signatures
// (Gemini 3 does, and so may the models after it and the -latest aliases).
func signsCalls(model string) bool {
	id := model[strings.LastIndex(model, "/")+1:]
	return !strings.HasPrefix(id, "gemini-1") && !strings.HasPrefix(id, "gemini-2")
}

// callRef is what a tool message needs of the call it answers: the
// function's name and the call's place in its assistant message.
type callRef struct {
	name string
	pos  int
}

// result is a functionResponse part and the place of the call it answers.
type result struct {
	part part
	pos  int
}

// responsePart translates tool (or legacy function) message i into a
// functionResponse part, naming the function of the call it answers.
func responsePart(m *llmproxy.Message, i int, calls map[string]callRef) (result, error) {
	param := func(field string) string { return fmt.Sprintf("messages[%d].%s", i, field) }
	ref, known := calls[m.ToolCallID]
	if !known {
		ref = callRef{name: m.Name, pos: math.MaxInt32}
	}
	if ref.name == "" {
		if m.ToolCallID == "" {
			return result{}, invalidParam(param("tool_call_id"), "a tool message needs the tool_call_id of the call it answers")
		}
		return result{}, invalidParam(param("tool_call_id"), "tool_call_id %q names no tool call of an earlier assistant message", m.ToolCallID)
	}
	text, err := textOnly(m.Content, param("content"), m.Role)
	if err != nil {
		return result{}, err
	}
	resp := json.RawMessage(bytes.TrimSpace([]byte(text)))
	if len(resp) == 0 || resp[0] != '{' || !json.Valid(resp) {
		resp, _ = json.Marshal(map[string]string{"output": text})
	}
	id, _ := splitToolCallID(m.ToolCallID)
	return result{part: part{FunctionResponse: &functionResponse{ID: id, Name: ref.name, Response: resp}}, pos: ref.pos}, nil
}
