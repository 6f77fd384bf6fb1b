package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/llmproxy/llmproxy"
)

// converseRequest holds what ConverseInput and ConverseStreamInput share.
type converseRequest struct {
	modelID          string
	system           []types.SystemContentBlock
	messages         []types.Message
	inference        *types.InferenceConfiguration
	tools            *types.ToolConfiguration
	output           *types.OutputConfig
	additionalFields document.Interface
	guardrail        *guardrail
}

// guardrail is a client's guardrail_config member.
type guardrail struct {
	Identifier string `json:"guardrailIdentifier"`
	Version    string `json:"guardrailVersion"`
	Trace      string `json:"trace"`
}

// converseInput returns the request as a Converse input.
func (r *converseRequest) converseInput() *bedrockruntime.ConverseInput {
	in := &bedrockruntime.ConverseInput{
		ModelId:                      aws.String(r.modelID),
		System:                       r.system,
		Messages:                     r.messages,
		InferenceConfig:              r.inference,
		ToolConfig:                   r.tools,
		OutputConfig:                 r.output,
		AdditionalModelRequestFields: r.additionalFields,
	}
	if g := r.guardrail; g != nil {
		in.GuardrailConfig = &types.GuardrailConfiguration{GuardrailIdentifier: aws.String(g.Identifier),
			GuardrailVersion: aws.String(g.Version), Trace: types.GuardrailTrace(g.Trace)}
	}
	return in
}

// converseStreamInput returns the request as a ConverseStream input.
func (r *converseRequest) converseStreamInput() *bedrockruntime.ConverseStreamInput {
	in := &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(r.modelID),
		System:                       r.system,
		Messages:                     r.messages,
		InferenceConfig:              r.inference,
		ToolConfig:                   r.tools,
		OutputConfig:                 r.output,
		AdditionalModelRequestFields: r.additionalFields,
	}
	if g := r.guardrail; g != nil {
		in.GuardrailConfig = &types.GuardrailStreamConfiguration{GuardrailIdentifier: aws.String(g.Identifier),
			GuardrailVersion: aws.String(g.Version), Trace: types.GuardrailTrace(g.Trace)}
	}
	return in
}

// emptySchema is the input schema of a function tool without parameters.
const emptySchema = `{"type":"object","properties":{}}`

// translateChat translates an OpenAI chat request into a Converse request
// (see the package documentation for the rules). defaultMaxTokens is the
// maxTokens of a request that sets none (0: none is sent). It does not
// modify req. A request that cannot be translated faithfully is refused
// with an error of kind KindInvalidRequest whose Param names the member.
func translateChat(req *llmproxy.ChatRequest, defaultMaxTokens int) (*converseRequest, *llmproxy.Error) {
	if req.N != nil && *req.N > 1 {
		return nil, invalid("n", "Bedrock models return one choice per request: n must be 1")
	}
	if isTrue(req.Extra["logprobs"]) {
		return nil, invalid("logprobs", "Bedrock's Converse API does not return log probabilities: logprobs is not supported")
	}
	if raw := req.Extra["top_logprobs"]; !isNull(raw) && string(bytes.TrimSpace(raw)) != "0" {
		return nil, invalid("top_logprobs", "Bedrock's Converse API does not return log probabilities: top_logprobs is not supported")
	}
	cr := &converseRequest{modelID: req.Model}
	var err *llmproxy.Error
	if cr.system, cr.messages, err = translateMessages(req.Messages); err != nil {
		return nil, err
	}
	if cr.inference, err = inferenceConfig(req, defaultMaxTokens); err != nil {
		return nil, err
	}
	if cr.tools, err = toolConfig(req.Tools, req.ToolChoice, hasToolBlocks(cr.messages)); err != nil {
		return nil, err
	}
	if cr.output, err = outputConfig(req.Extra["response_format"]); err != nil {
		return nil, err
	}
	if raw := req.Extra["additional_model_request_fields"]; !isNull(raw) {
		doc, ok := jsonDocument(raw)
		if !ok || bytes.TrimSpace(raw)[0] != '{' {
			return nil, invalid("additional_model_request_fields", "additional_model_request_fields must be a JSON object")
		}
		cr.additionalFields = doc
	}
	if raw := req.Extra["guardrail_config"]; !isNull(raw) {
		var g guardrail
		if json.Unmarshal(raw, &g) != nil || g.Identifier == "" || g.Version == "" {
			return nil, invalid("guardrail_config", `guardrail_config must be {"guardrailIdentifier":...,"guardrailVersion":...}`)
		}
		cr.guardrail = &g
	}
	return cr, nil
}

// inferenceConfig translates max tokens, temperature, top_p and stop; nil
// when none is set.
func inferenceConfig(req *llmproxy.ChatRequest, defaultMaxTokens int) (*types.InferenceConfiguration, *llmproxy.Error) {
	ic := &types.InferenceConfiguration{}
	set := false
	maxTokens := defaultMaxTokens
	for _, v := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if v != nil {
			maxTokens = *v // max_completion_tokens, checked last, wins
		}
	}
	if maxTokens > 0 {
		ic.MaxTokens = aws.Int32(int32(min(maxTokens, math.MaxInt32)))
		set = true
	}
	if t := req.Temperature; t != nil {
		ic.Temperature = aws.Float32(float32(min(*t, 1)))
		set = true
	}
	if p := req.TopP; p != nil {
		ic.TopP = aws.Float32(float32(*p))
		set = true
	}
	for i, s := range req.Stop {
		if s == "" {
			return nil, invalid(fmt.Sprintf("stop[%d]", i), "stop sequences must not be empty")
		}
	}
	if len(req.Stop) > 0 {
		ic.StopSequences = []string(req.Stop)
		set = true
	}
	if !set {
		return nil, nil
	}
	return ic, nil
}

// translateMessages splits OpenAI messages into the system blocks and
// alternating user and assistant turns.
func translateMessages(msgs []llmproxy.Message) ([]types.SystemContentBlock, []types.Message, *llmproxy.Error) {
	var system []types.SystemContentBlock
	turns := make([]types.Message, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var role types.ConversationRole
		var blocks []types.ContentBlock
		var err *llmproxy.Error
		switch m.Role {
		case "system", "developer":
			texts, err := textParts(m.Content, i)
			if err != nil {
				return nil, nil, err
			}
			for _, t := range texts {
				system = append(system, &types.SystemContentBlockMemberText{Value: t})
			}
			continue
		case "user":
			role = types.ConversationRoleUser
			blocks, err = userBlocks(m.Content, i)
		case "assistant":
			role = types.ConversationRoleAssistant
			blocks, err = assistantBlocks(m, i)
		case "tool":
			role = types.ConversationRoleUser
			blocks, err = toolResult(m, i)
		default:
			return nil, nil, invalid(param(i, "role"),
				fmt.Sprintf("role %q is not supported for Bedrock models (use system, developer, user, assistant or tool)", m.Role))
		}
		if err != nil {
			return nil, nil, err
		}
		if len(blocks) == 0 {
			continue // nothing to say: Bedrock refuses empty content
		}
		if n := len(turns); n > 0 && turns[n-1].Role == role {
			turns[n-1].Content = append(turns[n-1].Content, blocks...)
			continue
		}
		turns = append(turns, types.Message{Role: role, Content: blocks})
	}
	for i := range turns {
		if turns[i].Role == types.ConversationRoleUser {
			resultsFirst(turns[i].Content)
		}
	}
	return system, turns, nil
}

// resultsFirst moves the toolResult blocks of a user turn before its other
// blocks, keeping the order within each group: the results of the previous
// turn's tool calls come first.
func resultsFirst(blocks []types.ContentBlock) {
	isResult := func(b types.ContentBlock) bool {
		_, ok := b.(*types.ContentBlockMemberToolResult)
		return ok
	}
	sorted := make([]types.ContentBlock, 0, len(blocks))
	for _, b := range blocks {
		if isResult(b) {
			sorted = append(sorted, b)
		}
	}
	for _, b := range blocks {
		if !isResult(b) {
			sorted = append(sorted, b)
		}
	}
	copy(blocks, sorted)
}

// textParts returns the non-empty texts of content (system and developer
// messages); any part but text is refused.
func textParts(c *llmproxy.Content, i int) ([]string, *llmproxy.Error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []string{c.Text}, nil
	}
	var out []string
	for j, part := range c.Parts {
		if part.Type != "text" {
			return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported in this message for Bedrock models", part.Type))
		}
		if part.Text != "" {
			out = append(out, part.Text)
		}
	}
	return out, nil
}

// textBlock returns a text block of s, or nothing when s is empty.
func textBlock(s string) []types.ContentBlock {
	if s == "" {
		return nil
	}
	return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}
}

// userBlocks returns the blocks of a user message: text and images.
func userBlocks(c *llmproxy.Content, i int) ([]types.ContentBlock, *llmproxy.Error) {
	if c == nil {
		return nil, nil
	}
	if c.Parts == nil {
		return textBlock(c.Text), nil
	}
	var out []types.ContentBlock
	for j, part := range c.Parts {
		switch part.Type {
		case "text":
			out = append(out, textBlock(part.Text)...)
		case "image_url":
			img, err := imageBlock(part, i, j)
			if err != nil {
				return nil, err
			}
			out = append(out, &types.ContentBlockMemberImage{Value: img})
		default:
			return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported for Bedrock models (use text or image_url)", part.Type))
		}
	}
	return out, nil
}

// imageFormats maps the media types of data URLs to Bedrock's formats.
var imageFormats = map[string]types.ImageFormat{
	"image/png":  types.ImageFormatPng,
	"image/jpeg": types.ImageFormatJpeg,
	"image/jpg":  types.ImageFormatJpeg,
	"image/gif":  types.ImageFormatGif,
	"image/webp": types.ImageFormatWebp,
}

// imageBlock translates an image_url part: a base64 data URL becomes an
// image with its bytes, an s3:// URL an S3 location whose format is taken
// from the file name's extension.
func imageBlock(part llmproxy.ContentPart, i, j int) (types.ImageBlock, *llmproxy.Error) {
	p := partParam(i, j) + ".image_url.url"
	if part.ImageURL == nil || part.ImageURL.URL == "" {
		return types.ImageBlock{}, invalid(p, "an image_url part needs a url")
	}
	u := part.ImageURL.URL
	switch {
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(u[len("data:"):], ",")
		mime, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || data == "" {
			return types.ImageBlock{}, invalid(p, "an image data URL must have the form data:<media type>;base64,<data>")
		}
		format, known := imageFormats[strings.ToLower(mime)]
		if !known {
			return types.ImageBlock{}, invalid(p, fmt.Sprintf("image type %q is not supported by Bedrock (use PNG, JPEG, GIF or WebP)", mime))
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return types.ImageBlock{}, invalid(p, "the image data URL is not valid base64")
		}
		return types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: b}}, nil
	case strings.HasPrefix(u, "s3://"):
		ext := strings.ToLower(u[strings.LastIndexByte(u, '.')+1:])
		format, known := imageFormats["image/"+ext]
		if !known {
			return types.ImageBlock{}, invalid(p, "an s3:// image URL must end in .png, .jpg, .jpeg, .gif or .webp")
		}
		return types.ImageBlock{Format: format, Source: &types.ImageSourceMemberS3Location{Value: types.S3Location{Uri: aws.String(u)}}}, nil
	}
	return types.ImageBlock{}, invalid(p, "Bedrock does not fetch image URLs: send the image as a base64 data URL (or an s3:// URL)")
}

// assistantBlocks returns the blocks of an assistant message: its text,
// then a toolUse block per tool call, whose input is the call's arguments
// decoded (they must be a JSON object).
func assistantBlocks(m *llmproxy.Message, i int) ([]types.ContentBlock, *llmproxy.Error) {
	var out []types.ContentBlock
	if m.Content != nil {
		if m.Content.Parts == nil {
			out = textBlock(m.Content.Text)
		}
		for j, part := range m.Content.Parts {
			switch part.Type {
			case "text":
				out = append(out, textBlock(part.Text)...)
			case "refusal":
			default:
				return nil, invalid(partParam(i, j), fmt.Sprintf("content parts of type %q are not supported in assistant messages", part.Type))
			}
		}
	}
	for j, tc := range m.ToolCalls {
		p := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, invalid(p+".type", fmt.Sprintf("tool calls of type %q are not supported for Bedrock models", tc.Type))
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(p, "a tool call needs an id and a function name")
		}
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		input, ok := jsonDocument([]byte(args))
		if !ok || args[0] != '{' {
			return nil, invalid(p+".function.arguments", "the arguments of a tool call must be a JSON object")
		}
		out = append(out, &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String(tc.ID), Name: aws.String(tc.Function.Name), Input: input}})
	}
	return out, nil
}

// toolResult returns the toolResult block of a tool message: its text
// (and images), with status error when the message says so.
func toolResult(m *llmproxy.Message, i int) ([]types.ContentBlock, *llmproxy.Error) {
	if m.ToolCallID == "" {
		return nil, invalid(param(i, "tool_call_id"), "a tool message needs the tool_call_id of the call it answers")
	}
	blocks, err := userBlocks(m.Content, i)
	if err != nil {
		return nil, err
	}
	content := make([]types.ToolResultContentBlock, 0, len(blocks))
	for _, b := range blocks {
		switch v := b.(type) {
		case *types.ContentBlockMemberText:
			content = append(content, &types.ToolResultContentBlockMemberText{Value: v.Value})
		case *types.ContentBlockMemberImage:
			content = append(content, &types.ToolResultContentBlockMemberImage{Value: v.Value})
		}
	}
	if len(content) == 0 {
		// Bedrock wants content in every result; an empty result is
		// an empty JSON object.
		content = append(content, &types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{})})
	}
	tr := types.ToolResultBlock{ToolUseId: aws.String(m.ToolCallID), Content: content}
	var status string
	if raw := m.Extra["status"]; !isNull(raw) {
		if json.Unmarshal(raw, &status) != nil || (status != "error" && status != "success") {
			return nil, invalid(param(i, "status"), `the status of a tool message must be "success" or "error"`)
		}
		tr.Status = types.ToolResultStatus(status)
	}
	return []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: tr}}, nil
}

// hasToolBlocks reports whether the conversation holds tool calls or
// results, for which Bedrock requires a tool configuration.
func hasToolBlocks(msgs []types.Message) bool {
	for _, m := range msgs {
		for _, b := range m.Content {
			switch b.(type) {
			case *types.ContentBlockMemberToolUse, *types.ContentBlockMemberToolResult:
				return true
			}
		}
	}
	return false
}

// toolConfig translates function tools and tool_choice. With tool_choice
// "none" the tools are left out, unless the conversation holds tool
// blocks (toolHistory), which Bedrock accepts only with the tools.
func toolConfig(tools []llmproxy.Tool, choice json.RawMessage, toolHistory bool) (*types.ToolConfiguration, *llmproxy.Error) {
	if len(tools) == 0 {
		return nil, nil
	}
	tc := &types.ToolConfiguration{Tools: make([]types.Tool, 0, len(tools))}
	for i := range tools {
		t := &tools[i]
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return nil, invalid(p+".type", fmt.Sprintf("tools of type %q are not supported for Bedrock models (use function tools)", t.Type))
		}
		f := t.Function
		if f == nil || f.Name == "" {
			return nil, invalid(p+".function.name", "a function tool needs a name")
		}
		schema := f.Parameters
		if isNull(schema) {
			schema = json.RawMessage(emptySchema)
		}
		doc, ok := jsonDocument(schema)
		if !ok || bytes.TrimSpace(schema)[0] != '{' {
			return nil, invalid(p+".function.parameters", "the parameters of a function tool must be a JSON schema object")
		}
		spec := types.ToolSpecification{Name: aws.String(f.Name), InputSchema: &types.ToolInputSchemaMemberJson{Value: doc}, Strict: f.Strict}
		if f.Description != "" {
			spec.Description = aws.String(f.Description)
		}
		tc.Tools = append(tc.Tools, &types.ToolMemberToolSpec{Value: spec})
	}
	if isNull(choice) {
		return tc, nil
	}
	var s string
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	switch {
	case json.Unmarshal(choice, &s) == nil:
		switch s {
		case "auto":
			tc.ToolChoice = &types.ToolChoiceMemberAuto{}
		case "required":
			tc.ToolChoice = &types.ToolChoiceMemberAny{}
		case "none":
			if !toolHistory {
				return nil, nil
			}
		default:
			return nil, invalid("tool_choice", fmt.Sprintf("tool_choice %q is not supported (use auto, required, none or a function)", s))
		}
	case json.Unmarshal(choice, &obj) == nil && obj.Type == "function" && obj.Function.Name != "":
		tc.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(obj.Function.Name)}}
	default:
		return nil, invalid("tool_choice", `tool_choice must be "auto", "required", "none" or {"type":"function","function":{"name":...}} for Bedrock models`)
	}
	return tc, nil
}

// outputConfig translates response_format: a JSON schema becomes
// Converse's structured output; text and json_object have no Converse
// counterpart and are dropped.
func outputConfig(raw json.RawMessage) (*types.OutputConfig, *llmproxy.Error) {
	if isNull(raw) {
		return nil, nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(raw, &rf) != nil {
		return nil, invalid("response_format", "response_format must be an object")
	}
	if rf.Type != "json_schema" {
		return nil, nil
	}
	schema := bytes.TrimSpace(rf.JSONSchema.Schema)
	if isNull(schema) || schema[0] != '{' {
		return nil, invalid("response_format.json_schema.schema", "a json_schema response format needs a schema object")
	}
	def := types.JsonSchemaDefinition{Schema: aws.String(string(schema))}
	if rf.JSONSchema.Name != "" {
		def.Name = aws.String(rf.JSONSchema.Name)
	}
	if rf.JSONSchema.Description != "" {
		def.Description = aws.String(rf.JSONSchema.Description)
	}
	return &types.OutputConfig{TextFormat: &types.OutputFormat{Type: types.OutputFormatTypeJsonSchema,
		Structure: &types.OutputFormatStructureMemberJsonSchema{Value: def}}}, nil
}

// invalid returns a KindInvalidRequest error naming param.
func invalid(param, msg string) *llmproxy.Error {
	return &llmproxy.Error{Kind: llmproxy.KindInvalidRequest, Param: param, Message: msg}
}

// param names a member of the i-th message.
func param(i int, field string) string { return fmt.Sprintf("messages[%d].%s", i, field) }

// partParam names the j-th content part of the i-th message.
func partParam(i, j int) string { return fmt.Sprintf("messages[%d].content[%d]", i, j) }

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// isTrue reports whether a member is true.
func isTrue(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "true" }
