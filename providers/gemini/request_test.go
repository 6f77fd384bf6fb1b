package gemini

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

const sig = "CiQB0e2Kb2hXq1gtNGq8Ekd5H4cGKRFTpXbqJ3Nrj0dlT3bUCh0KIgHR7YpvMSp6z5Ofd2sB5hY7WLR1XlDbzc8y3ddPr5QmCg=="

func TestToGenerateRequest(t *testing.T) {
	tests := []struct {
		name   string
		model  string // the model the fake validates for; default gemini-2.5-flash
		openai string
		gemini string
	}{{
		name:   "system and developer become the system instruction",
		openai: `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"developer","content":[{"type":"text","text":"Use "},{"type":"text","text":"English."}]}]}`,
		gemini: `{"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Use English."}]},"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`,
	}, {
		name:   "sampling parameters",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"temperature":0.3,"top_p":0.5,"stop":"END","n":2,"seed":42,"presence_penalty":0.1,"frequency_penalty":0.2,"user":"u","store":true,"stream_options":{"include_usage":true},"parallel_tool_calls":false,"logprobs":false,"metadata":{"a":"b"}}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":100,"temperature":0.3,"topP":0.5,"stopSequences":["END"],"candidateCount":2,"seed":42,"presencePenalty":0.1,"frequencyPenalty":0.2}}`,
	}, {
		name:   "max_completion_tokens wins; n 1 is the default",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"max_completion_tokens":20,"n":1,"stop":["a","b"]}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":20,"stopSequences":["a","b"]}}`,
	}, {
		name: "images: data URL inline, https URL as fileData; audio and files inline",
		openai: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is in these?"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
			{"type":"image_url","image_url":{"url":"https://example.com/cat.JPG","detail":"high"}},
			{"type":"image_url","image_url":{"url":"https://example.com/render?id=7"}},
			{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"What is in these?"},
			{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
			{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.JPG"}},
			{"fileData":{"fileUri":"https://example.com/render?id=7"}},
			{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},
			{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}}]}]}`,
	}, {
		name: "tools with a subset schema, an arbitrary schema and none; named tool_choice",
		openai: `{"model":"m","messages":[{"role":"user","content":"weather?"}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","strict":true,"parameters":{"type":"object","properties":{"location":{"type":"string","description":"City"},"unit":{"type":["string","null"],"enum":["celsius","fahrenheit"]}},"required":["location","unit"],"additionalProperties":false}}},
			{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"$ref":"#/$defs/q"}},"$defs":{"q":{"type":"string"}}}}},
			{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}},
			{"type":"function","function":{"name":"ping"}}]}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],
			"tools":[{"functionDeclarations":[
				{"name":"get_weather","description":"Weather by city","parameters":{"type":"OBJECT","properties":{"location":{"type":"STRING","description":"City"},"unit":{"type":"STRING","nullable":true,"enum":["celsius","fahrenheit"]}},"required":["location","unit"]}},
				{"name":"lookup","parametersJsonSchema":{"type":"object","properties":{"q":{"$ref":"#/$defs/q"}},"$defs":{"q":{"type":"string"}}}},
				{"name":"now"},
				{"name":"ping"}]}],
			"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}`,
	}, {
		name:   "tool_choice required and none",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}]}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
	}, {
		name:   "tool_choice none without tools and auto are left out",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"none"}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
	}, {
		name:   "response_format json_object",
		openai: `{"model":"m","messages":[{"role":"user","content":"JSON please"}],"response_format":{"type":"json_object"}}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"JSON please"}]}],"generationConfig":{"responseMimeType":"application/json"}}`,
	}, {
		name:   "response_format json_schema in the OpenAPI subset",
		openai: `{"model":"m","messages":[{"role":"user","content":"a person"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","format":"int32","minimum":0},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age","tags"],"additionalProperties":false}}}}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"a person"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"name":{"type":"STRING"},"age":{"type":"INTEGER","format":"int32","minimum":0},"tags":{"type":"ARRAY","items":{"type":"STRING"},"maxItems":3}},"required":["name","age","tags"]}}}`,
	}, {
		name:   "response_format json_schema beyond the subset goes as responseJsonSchema",
		openai: `{"model":"m","messages":[{"role":"user","content":"a shape"}],"response_format":{"type":"json_schema","json_schema":{"name":"shape","schema":{"oneOf":[{"type":"object","properties":{"r":{"type":"number"}}},{"type":"object","properties":{"w":{"type":"number","exclusiveMinimum":0}}}]}}}}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"a shape"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"oneOf":[{"type":"object","properties":{"r":{"type":"number"}}},{"type":"object","properties":{"w":{"type":"number","exclusiveMinimum":0}}}]}}}`,
	}, {
		name:   "reasoning_effort high asks for thoughts",
		openai: `{"model":"m","messages":[{"role":"user","content":"think"}],"reasoning_effort":"high"}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"think"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":24576}}}`,
	}, {
		name:   "reasoning_effort none switches thinking off",
		openai: `{"model":"m","messages":[{"role":"user","content":"quick"}],"reasoning_effort":"none"}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"quick"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`,
	}, {
		name:   "Gemini-native members pass through; thinking_config wins",
		model:  "gemini-3-pro-preview",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low","thinking_config":{"thinkingLevel":"low","includeThoughts":true},"topK":40,"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}],"cachedContent":"cachedContents/abc123"}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"topK":40,"thinkingConfig":{"thinkingLevel":"low","includeThoughts":true}},"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}],"cachedContent":"cachedContents/abc123"}`,
	}, {
		name:   "thinking_config in snake_case, as Google's OpenAI layer spells it",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking_config":{"thinking_budget":512,"include_thoughts":true}}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":512,"includeThoughts":true}}}`,
	}, {
		name:  "parallel tool round trip: ids, signature, names by tool_call_id, results together in call order",
		model: "gemini-3-flash-preview",
		openai: `{"model":"m","messages":[
			{"role":"user","content":"Weather in Paris and London?"},
			{"role":"assistant","content":null,"reasoning_content":"Two lookups.","tool_calls":[
				{"id":"call_0__thought__` + sig + `","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
				{"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]},
			{"role":"tool","tool_call_id":"call_1","content":"12:00"},
			{"role":"tool","tool_call_id":"call_0__thought__` + sig + `","content":"{\"temp\":18}"},
			{"role":"user","content":"Thanks. And tomorrow?"}]}`,
		gemini: `{"contents":[
			{"role":"user","parts":[{"text":"Weather in Paris and London?"}]},
			{"role":"model","parts":[
				{"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"` + sig + `"},
				{"functionCall":{"name":"get_time","args":{}}}]},
			{"role":"user","parts":[
				{"functionResponse":{"name":"get_weather","response":{"temp":18}}},
				{"functionResponse":{"name":"get_time","response":{"output":"12:00"}}},
				{"text":"Thanks. And tomorrow?"}]}]}`,
	}, {
		name:  "Gemini ids go back; history from elsewhere gets the placeholder signature",
		model: "gemini-3-flash-preview",
		openai: `{"model":"m","messages":[
			{"role":"user","content":"Weather?"},
			{"role":"assistant","content":"Looking.","tool_calls":[{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9","content":[{"type":"text","text":"sunny"}]},
			{"role":"assistant","content":"Sunny."},
			{"role":"user","content":"Again"},
			{"role":"assistant","tool_calls":[{"id":"fc-7q2w","type":"function","function":{"name":"get_weather","arguments":"{\"day\":1}"}}]},
			{"role":"tool","tool_call_id":"fc-7q2w","content":"rain"}]}`,
		gemini: `{"contents":[
			{"role":"user","parts":[{"text":"Weather?"}]},
			{"role":"model","parts":[{"text":"Looking."},{"functionCall":{"id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},
			{"role":"user","parts":[{"functionResponse":{"id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","response":{"output":"sunny"}}}]},
			{"role":"model","parts":[{"text":"Sunny."}]},
			{"role":"user","parts":[{"text":"Again"}]},
			{"role":"model","parts":[{"functionCall":{"id":"fc-7q2w","name":"get_weather","args":{"day":1}},"thoughtSignature":"skip_thought_signature_validator"}]},
			{"role":"user","parts":[{"functionResponse":{"id":"fc-7q2w","name":"get_weather","response":{"output":"rain"}}}]}]}`,
	}, {
		name: "Gemini 2 models get no placeholder signature",
		openai: `{"model":"models/gemini-2.5-flash","messages":[
			{"role":"user","content":"Weather?"},
			{"role":"assistant","tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"call_abc","content":"sunny"}]}`,
		gemini: `{"contents":[
			{"role":"user","parts":[{"text":"Weather?"}]},
			{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}}}]},
			{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"output":"sunny"}}}]}]}`,
	}, {
		name:   "consecutive user messages merge; empty texts are left out",
		openai: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":""},{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"b"}]},{"role":"assistant","content":""},{"role":"assistant","content":[{"type":"text","text":"c"},{"type":"refusal","refusal":"no"}]}]}`,
		gemini: `{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]},{"role":"model","parts":[{"text":"c"}]}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseChat(t, tt.openai)
			before, err := req.MarshalJSON()
			require.NoError(t, err)
			got, err := toGenerateRequest(req)
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.gemini, string(b))
			after, err := req.MarshalJSON()
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the request is not modified")
			// What goes out must pass the fake's validation of the API.
			var spec specRequest
			require.NoError(t, strict(b, &spec), "the request has members Gemini does not know")
			model := tt.model
			if model == "" {
				model = "gemini-2.5-flash"
			}
			assert.Empty(t, validateGenerate(model, &spec))
		})
	}
}

func TestToGenerateRequestRefuses(t *testing.T) {
	tests := []struct {
		name   string
		openai string
		param  string
	}{
		{"logprobs", `{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "logprobs"},
		{"top_logprobs", `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, "top_logprobs"},
		{"seed beyond 32 bits", `{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":4294967296}`, "seed"},
		{"fractional seed", `{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1.5}`, "seed"},
		{"unknown reasoning_effort", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"max"}`, "reasoning_effort"},
		{"allowed_tools choice", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice"},
		{"required without tools", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`, "tool_choice"},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"array parameters", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, "tools[0].function.parameters"},
		{"non-object arguments", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"tool result for an unknown call", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_9","content":"x"}]}`, "messages[1].tool_call_id"},
		{"tool result without an id", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id"},
		{"bad data URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"unknown part", `{"model":"m","messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}]}`, "messages[0].content[0].type"},
		{"unknown role", `{"model":"m","messages":[{"role":"critic","content":"1"}]}`, "messages[0].role"},
		{"only a system message", `{"model":"m","messages":[{"role":"system","content":"be"}]}`, "messages"},
		{"unknown response_format", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"grammar"}}`, "response_format.type"},
		{"json_schema not an object", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}}`, "response_format.json_schema.schema"},
		{"safety_settings not a list", `{"model":"m","messages":[{"role":"user","content":"hi"}],"safety_settings":{"a":1}}`, "safety_settings"},
		{"safety_settings with an unknown member", `{"model":"m","messages":[{"role":"user","content":"hi"}],"safety_settings":[{"category":"HARM_CATEGORY_HATE_SPEECH","level":"high"}]}`, "safety_settings"},
		{"thinking_config with an unknown member", `{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking_config":{"budget":5}}`, "thinking_config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := toGenerateRequest(parseChat(t, tt.openai))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
			assert.Equal(t, tt.param, e.Param)
			assert.NotEmpty(t, e.Message)
		})
	}
}

func TestModelPath(t *testing.T) {
	for in, want := range map[string]string{
		"gemini-2.5-flash":         "/models/gemini-2.5-flash",
		"models/gemini-2.5-flash":  "/models/gemini-2.5-flash",
		"tunedModels/my-model_1.2": "/tunedModels/my-model_1.2",
	} {
		got, err := modelPath(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "models/", "models/../files", "a/b", "gemini flash", "models/x/y", "gemini-2.5-flash:generateContent", "x?alt=1"} {
		_, err := modelPath(bad)
		assert.Equal(t, llmproxy.KindInvalidRequest, asError(t, err).Kind, bad)
	}
}

func TestOpenAPISchema(t *testing.T) {
	fits := map[string]string{
		`{"type":"string","format":"date-time"}`:                      `{"type":"STRING","format":"date-time"}`,
		`{"type":["null","integer"]}`:                                 `{"type":"INTEGER","nullable":true}`,
		`{"anyOf":[{"type":"string"},{"type":"number"}],"title":"x"}`: `{"anyOf":[{"type":"STRING"},{"type":"NUMBER"}],"title":"x"}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"a":{"type":"boolean"}},"propertyOrdering":["a"]}`: `{"type":"OBJECT","properties":{"a":{"type":"BOOLEAN"}},"propertyOrdering":["a"]}`,
	}
	for in, want := range fits {
		got, ok := openAPISchema(json.RawMessage(in))
		require.True(t, ok, in)
		b, _ := json.Marshal(got)
		assert.JSONEq(t, want, string(b), in)
	}
	for _, in := range []string{
		`{"type":"string","format":"email"}`, `{"type":["string","integer"]}`, `{"const":1}`,
		`{"type":"object","additionalProperties":{"type":"string"}}`, `{"type":"array","items":[{"type":"string"}]}`,
		`{"enum":[1,2],"type":"integer"}`, `{"type":"null"}`, `[]`, `{"allOf":[]}`, `{"properties":{"a":{"$ref":"#"}}}`,
	} {
		_, ok := openAPISchema(json.RawMessage(in))
		assert.False(t, ok, in)
	}
}
