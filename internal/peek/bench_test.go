package peek_test

import (
	"testing"
	"unicode/utf8"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/peek"
)

// The benchmarks compare each peek with the full decoder it stands in for,
// on the bodies of the server's benchmarks:
//
//	go test -run='^$' -bench=. -benchmem ./internal/peek/

func BenchmarkChatRequest(b *testing.B) {
	body := []byte(benchRequest)
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := peek.ChatRequest(body); !ok {
				b.Fatal("not ok")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := llmproxy.ParseChatRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkChatAnswer(b *testing.B) {
	body := []byte(benchAnswer)
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := peek.ChatAnswer(body); !ok {
				b.Fatal("not ok")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var resp llmproxy.ChatResponse
			if !utf8.Valid(body) {
				b.Fatal("not UTF-8")
			}
			if err := llmproxy.DecodeAnswer(body, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkChatChunk(b *testing.B) {
	data := []byte(benchChunk)
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, ok := peek.ChatChunk(data); !ok {
				b.Fatal("not ok")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var c llmproxy.ChatChunk
			if !utf8.Valid(data) {
				b.Fatal("not UTF-8")
			}
			if err := llmproxy.DecodeAnswer(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
