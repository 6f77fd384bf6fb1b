// Package all links every built-in provider adapter into a program, so
// that a config file may name any built-in type: openai and its flavors
// (perplexity, grok, openrouter, blackbox, azure, and the presets mistral,
// groq, deepseek, together, fireworks, ollama, vllm and lmstudio),
// anthropic, cohere, gemini, bedrock and mock.
// Import it for its side effect:
//
//	import _ "github.com/llmproxy/llmproxy/providers/all"
//
// A program that needs only some adapters imports those packages instead
// (providers/openai, providers/anthropic, ...), and links less.
package all

import (
	// Each adapter registers its types in its init function.
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	_ "github.com/llmproxy/llmproxy/providers/bedrock"
	_ "github.com/llmproxy/llmproxy/providers/cohere"
	_ "github.com/llmproxy/llmproxy/providers/gemini"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	_ "github.com/llmproxy/llmproxy/providers/openai"
)
