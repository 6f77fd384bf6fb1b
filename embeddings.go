package llmproxy

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
)

// EmbeddingRequest is an OpenAI embeddings request. Members not modelled are
// kept in Extra and reach an OpenAI-compatible upstream unchanged.
type EmbeddingRequest struct {
	Model string          `json:"model"`
	Input json.RawMessage `json:"input"`
	// EncodingFormat is "float" (the default when empty) or "base64".
	EncodingFormat string `json:"encoding_format,omitempty"`
	Dimensions     *int   `json:"dimensions,omitempty"`
	User           string `json:"user,omitempty"`

	// Extra holds the members not modelled above.
	Extra Extra `json:"-"`

	raw []byte
}

type embeddingRequestJSON EmbeddingRequest

// MarshalJSON encodes the request with its Extra members.
func (r *EmbeddingRequest) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*embeddingRequestJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the request, keeping unknown members in Extra.
func (r *EmbeddingRequest) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*embeddingRequestJSON)(r))
	r.Extra = extra
	return err
}

// Raw returns the bytes the request was parsed from, or nil when it was
// built in code or changed since (see Touch): OpenAI-format providers send
// these bytes as they are.
func (r *EmbeddingRequest) Raw() []byte { return r.raw }

// Touch forgets the original bytes of a parsed request, so that providers
// encode it from its fields: call it after changing a parsed request.
func (r *EmbeddingRequest) Touch() { r.raw = nil }

// InputStrings returns the input when it is a string or a list of strings;
// ok is false for token arrays.
func (r *EmbeddingRequest) InputStrings() (in []string, ok bool) {
	var one string
	if err := json.Unmarshal(r.Input, &one); err == nil {
		return []string{one}, true
	}
	if err := json.Unmarshal(r.Input, &in); err == nil {
		return in, true
	}
	return nil, false
}

// ParseEmbeddingRequest decodes and validates an embeddings request from a
// client's body; the request remembers body (see Raw).
func ParseEmbeddingRequest(body []byte) (*EmbeddingRequest, error) {
	var r EmbeddingRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.raw = body
	return &r, nil
}

// Validate checks the request's shape (see ChatRequest.Validate).
func (r *EmbeddingRequest) Validate() error {
	switch {
	case r.Model == "":
		return errNoModel()
	case len(r.Input) == 0 || string(r.Input) == "null":
		return invalidParam("input", "you must provide an input parameter")
	case r.EncodingFormat != "" && r.EncodingFormat != "float" && r.EncodingFormat != "base64":
		return invalidParam("encoding_format", `encoding_format must be "float" or "base64"`)
	}
	return nil
}

// EmbeddingResponse is an embeddings answer.
type EmbeddingResponse struct {
	Object    string      `json:"object"`
	Data      []Embedding `json:"data"`
	Model     string      `json:"model"`
	Usage     *Usage      `json:"usage,omitempty"`
	ProxyInfo *ProxyInfo  `json:"_proxy_info,omitempty"`

	// Extra holds the members not modelled above.
	Extra Extra `json:"-"`

	raw []byte
}

type embeddingResponseJSON EmbeddingResponse

// MarshalJSON encodes the response with its Extra members.
func (r *EmbeddingResponse) MarshalJSON() ([]byte, error) {
	return marshalWithExtra((*embeddingResponseJSON)(r), r.Extra)
}

// UnmarshalJSON decodes the response, keeping unknown members in Extra.
func (r *EmbeddingResponse) UnmarshalJSON(data []byte) error {
	extra, err := unmarshalWithExtra(data, (*embeddingResponseJSON)(r))
	r.Extra = extra
	return err
}

// SetRaw records the upstream's exact answer (see ChatResponse.SetRaw).
func (r *EmbeddingResponse) SetRaw(b []byte) { r.raw = b }

// Raw returns the bytes recorded by SetRaw, or nil.
func (r *EmbeddingResponse) Raw() []byte { return r.raw }

// Embedding is one vector of an embeddings answer. Vector holds the floats
// when the answer is in float form; Base64 holds the little-endian float32
// bytes, base64-encoded, when it is in base64 form.
type Embedding struct {
	Object string
	Index  int
	Vector []float32
	Base64 string
}

type embeddingJSON struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// MarshalJSON encodes the vector as an array of numbers, or as a string
// when Base64 is set.
func (e Embedding) MarshalJSON() ([]byte, error) {
	var vec []byte
	var err error
	if e.Base64 != "" {
		vec, err = json.Marshal(e.Base64)
	} else {
		if e.Vector == nil {
			e.Vector = []float32{}
		}
		vec, err = json.Marshal(e.Vector)
	}
	if err != nil {
		return nil, err
	}
	obj := e.Object
	if obj == "" {
		obj = "embedding"
	}
	return json.Marshal(embeddingJSON{Object: obj, Index: e.Index, Embedding: vec})
}

// UnmarshalJSON accepts both the float and the base64 forms.
func (e *Embedding) UnmarshalJSON(data []byte) error {
	var j embeddingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*e = Embedding{Object: j.Object, Index: j.Index}
	if len(j.Embedding) > 0 && j.Embedding[0] == '"' {
		return json.Unmarshal(j.Embedding, &e.Base64)
	}
	return json.Unmarshal(j.Embedding, &e.Vector)
}

// EncodeBase64 stores the vector in base64 form (little-endian float32, as
// OpenAI sends it for encoding_format "base64") and clears Vector.
func (e *Embedding) EncodeBase64() {
	if e.Base64 != "" {
		return
	}
	b := make([]byte, 4*len(e.Vector))
	for i, f := range e.Vector {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	e.Base64 = base64.StdEncoding.EncodeToString(b)
	e.Vector = nil
}

// DecodeBase64 stores the vector in float form and clears Base64.
func (e *Embedding) DecodeBase64() error {
	if e.Base64 == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(e.Base64)
	if err != nil {
		return err
	}
	if len(b)%4 != 0 {
		return errors.New("base64 embedding is not a whole number of float32 values")
	}
	e.Vector = make([]float32, len(b)/4)
	for i := range e.Vector {
		e.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	e.Base64 = ""
	return nil
}
