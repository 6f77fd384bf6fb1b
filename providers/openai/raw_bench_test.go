package openai

import "testing"

// BenchmarkReadChatChunk and BenchmarkReadChatAnswer measure what the raw
// path reads of every streamed chunk and every whole answer, beside the
// full decoders they spare; plainDelta is what it looks at in the chunks
// of a stream past its first content, and validate the JSON check that
// each full read starts with.
func BenchmarkReadChatChunk(b *testing.B) {
	data := []byte(oaChunkHello)
	p := &Provider{name: "bench", flavor: flavors[0]}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f, ok := readChatChunk(data); !ok || !f.content {
				b.Fatal("not read")
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := validObject(data); !ok {
				b.Fatal("not valid")
			}
		}
	})
	b.Run("plainDelta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !plainDelta(data) {
				b.Fatal("not plain")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := p.decodeChatChunk(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadChatAnswer(b *testing.B) {
	body := []byte(openAIChat)
	p := &Provider{name: "bench", flavor: flavors[0]}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := readChatAnswer(body); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.decodeChatAnswer(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
