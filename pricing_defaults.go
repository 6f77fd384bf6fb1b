package llmproxy

// DefaultPricesDate is when the shipped default prices (defaultPrices)
// were taken from the vendors' published price lists: standard tier,
// on-demand, prompts within the base context (no long-context surcharge,
// no batch discount, no per-request or per-search fees). Override or
// complete them with Config.Pricing.
const DefaultPricesDate = "2025-10-01"

// defaultPrices are the shipped prices, in US dollars per million tokens,
// by provider type and model glob (see priceList.match for the order).
// Anthropic's cache writes are the 5-minute cache's (1.25 × input) and its
// cache reads 0.1 × input; OpenAI's and xAI's cached input is their
// published "cached input" price. The mock is free.
var defaultPrices = map[string]map[string]ModelPrice{
	"openai": {
		"gpt-5*":                 {Input: 1.25, Output: 10, CachedInput: Price(0.125)},
		"gpt-5-mini*":            {Input: 0.25, Output: 2, CachedInput: Price(0.025)},
		"gpt-5-nano*":            {Input: 0.05, Output: 0.40, CachedInput: Price(0.005)},
		"gpt-4.1*":               {Input: 2, Output: 8, CachedInput: Price(0.50)},
		"gpt-4.1-mini*":          {Input: 0.40, Output: 1.60, CachedInput: Price(0.10)},
		"gpt-4.1-nano*":          {Input: 0.10, Output: 0.40, CachedInput: Price(0.025)},
		"gpt-4o*":                {Input: 2.50, Output: 10, CachedInput: Price(1.25)},
		"gpt-4o-2024-05-13":      {Input: 5, Output: 15},
		"gpt-4o-mini*":           {Input: 0.15, Output: 0.60, CachedInput: Price(0.075)},
		"gpt-4-turbo*":           {Input: 10, Output: 30},
		"gpt-4":                  {Input: 30, Output: 60},
		"gpt-4-0613":             {Input: 30, Output: 60},
		"gpt-3.5-turbo*":         {Input: 0.50, Output: 1.50},
		"gpt-3.5-turbo-instruct": {Input: 1.50, Output: 2},
		"o1*":                    {Input: 15, Output: 60, CachedInput: Price(7.50)},
		"o1-mini*":               {Input: 1.10, Output: 4.40, CachedInput: Price(0.55)},
		"o3*":                    {Input: 2, Output: 8, CachedInput: Price(0.50)},
		"o3-mini*":               {Input: 1.10, Output: 4.40, CachedInput: Price(0.55)},
		"o4-mini*":               {Input: 1.10, Output: 4.40, CachedInput: Price(0.275)},
		"text-embedding-3-small": {Input: 0.02},
		"text-embedding-3-large": {Input: 0.13},
		"text-embedding-ada-002": {Input: 0.10},
	},
	"anthropic": {
		"claude-opus-4*":     {Input: 15, Output: 75, CachedInput: Price(1.50), CacheWrite: Price(18.75)},
		"claude-opus-4-5*":   {Input: 5, Output: 25, CachedInput: Price(0.50), CacheWrite: Price(6.25)},
		"claude-sonnet-4*":   {Input: 3, Output: 15, CachedInput: Price(0.30), CacheWrite: Price(3.75)},
		"claude-3-7-sonnet*": {Input: 3, Output: 15, CachedInput: Price(0.30), CacheWrite: Price(3.75)},
		"claude-3-5-sonnet*": {Input: 3, Output: 15, CachedInput: Price(0.30), CacheWrite: Price(3.75)},
		"claude-haiku-4-5*":  {Input: 1, Output: 5, CachedInput: Price(0.10), CacheWrite: Price(1.25)},
		"claude-3-5-haiku*":  {Input: 0.80, Output: 4, CachedInput: Price(0.08), CacheWrite: Price(1)},
		"claude-3-haiku*":    {Input: 0.25, Output: 1.25, CachedInput: Price(0.03), CacheWrite: Price(0.30)},
		"claude-3-opus*":     {Input: 15, Output: 75, CachedInput: Price(1.50), CacheWrite: Price(18.75)},
	},
	"cohere": {
		"command-a*":              {Input: 2.50, Output: 10},
		"command-r-plus*":         {Input: 2.50, Output: 10},
		"command-r":               {Input: 0.15, Output: 0.60},
		"command-r-08-2024":       {Input: 0.15, Output: 0.60},
		"command-r7b*":            {Input: 0.0375, Output: 0.15},
		"embed-v4.0":              {Input: 0.12},
		"embed-english-v3.0":      {Input: 0.10},
		"embed-multilingual-v3.0": {Input: 0.10},
	},
	"perplexity": {
		"sonar":               {Input: 1, Output: 1},
		"sonar-pro":           {Input: 3, Output: 15},
		"sonar-reasoning":     {Input: 1, Output: 5},
		"sonar-reasoning-pro": {Input: 2, Output: 8},
		"sonar-deep-research": {Input: 2, Output: 8, Reasoning: Price(3)},
	},
	"grok": {
		"grok-4*":           {Input: 3, Output: 15, CachedInput: Price(0.75)},
		"grok-4-fast*":      {Input: 0.20, Output: 0.50, CachedInput: Price(0.05)},
		"grok-3":            {Input: 3, Output: 15, CachedInput: Price(0.75)},
		"grok-3-mini*":      {Input: 0.30, Output: 0.50, CachedInput: Price(0.075)},
		"grok-code-fast-1*": {Input: 0.20, Output: 1.50, CachedInput: Price(0.02)},
		"grok-2*":           {Input: 2, Output: 10},
	},
	"gemini": {
		// Prompts up to 200k tokens; Gemini bills thinking as output.
		"gemini-2.5-pro*":        {Input: 1.25, Output: 10, CachedInput: Price(0.125)},
		"gemini-2.5-flash*":      {Input: 0.30, Output: 2.50, CachedInput: Price(0.03)},
		"gemini-2.5-flash-lite*": {Input: 0.10, Output: 0.40, CachedInput: Price(0.01)},
		"gemini-2.0-flash*":      {Input: 0.10, Output: 0.40, CachedInput: Price(0.025)},
		"gemini-2.0-flash-lite*": {Input: 0.075, Output: 0.30},
		"gemini-embedding-001":   {Input: 0.15},
	},
	"deepseek": {
		// DeepSeek-V3.2-Exp, from 2025-09-29: cache miss, cache hit, output.
		"deepseek-chat":     {Input: 0.28, Output: 0.42, CachedInput: Price(0.028)},
		"deepseek-reasoner": {Input: 0.28, Output: 0.42, CachedInput: Price(0.028)},
	},
	"mistral": {
		"mistral-large*":  {Input: 2, Output: 6},
		"mistral-medium*": {Input: 0.40, Output: 2},
		"mistral-small*":  {Input: 0.10, Output: 0.30},
		"codestral*":      {Input: 0.30, Output: 0.90},
		"mistral-embed":   {Input: 0.10},
	},
	"groq": {
		"llama-3.3-70b-versatile": {Input: 0.59, Output: 0.79},
		"llama-3.1-8b-instant":    {Input: 0.05, Output: 0.08},
	},
	"mock": {
		"*": {},
	},
}
