package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Static test credentials; no error may contain them.
const (
	testKeyID  = "AKIAIOSFODNN7BEDROCK"
	testSecret = "bedrock/TEST+SECRET/wJalrXUtnFEMI9f8e7d6c"
	testRegion = "us-west-2"
	testModel  = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	testReqID  = "4d3c2b1a-0000-4e5f-9a8b-7c6d5e4f3a2b"
)

// received is a request as the fake upstream saw it.
type received struct {
	method string
	path   string // decoded
	model  string // the model id of the path
	op     string // converse, converse-stream or invoke
	header http.Header
	body   []byte
}

// reply is a scripted answer of the fake upstream: a JSON body, an AWS
// error (status, code, message), or event-stream frames.
type reply struct {
	status  int
	errCode string // X-Amzn-ErrorType of an error answer
	body    string
	frames  [][]byte // a ConverseStream answer
	header  map[string]string
}

// fakeBedrock is an httptest server that speaks Bedrock's runtime wire
// format: it checks that requests are SigV4-signed for the test region and
// the bedrock service, validates Converse bodies the way Bedrock does (see
// validateConverse) and answers with scripted bytes. An invalid request
// gets Bedrock's own ValidationException.
type fakeBedrock struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	replies map[string][]reply // by operation; the last one repeats
}

func newFakeBedrock(t *testing.T) *fakeBedrock {
	t.Helper()
	f := &fakeBedrock{replies: map[string][]reply{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// on scripts the answers of an operation, in order; the last repeats.
func (f *fakeBedrock) on(op string, rs ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[op] = rs
}

func (f *fakeBedrock) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path, _ := url.PathUnescape(r.URL.EscapedPath())
	rec := received{method: r.Method, path: path, header: r.Header.Clone(), body: body}
	if rest, ok := strings.CutPrefix(path, "/model/"); ok {
		if i := strings.LastIndexByte(rest, '/'); i > 0 {
			rec.model, rec.op = rest[:i], rest[i+1:]
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	var rep reply
	rs := f.replies[rec.op]
	if n := len(rs); n > 0 {
		rep = rs[0]
		if n > 1 {
			f.replies[rec.op] = rs[1:]
		}
	}
	f.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", testReqID)
	if msg := checkSigV4(r); msg != "" {
		writeAWSError(w, 403, "InvalidSignatureException", msg)
		return
	}
	if r.Method != http.MethodPost || rec.model == "" {
		writeAWSError(w, 404, "UnknownOperationException", "")
		return
	}
	switch rec.op {
	case "converse", "converse-stream":
		if msg := validateConverse(body); msg != "" {
			writeAWSError(w, 400, "ValidationException", msg)
			return
		}
	case "invoke":
		if r.Header.Get("Content-Type") != "application/json" {
			writeAWSError(w, 400, "ValidationException", "content type must be application/json")
			return
		}
	default:
		writeAWSError(w, 404, "UnknownOperationException", "")
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	switch {
	case rep.errCode != "":
		writeAWSError(w, rep.status, rep.errCode, rep.body)
	case rep.frames != nil:
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		for _, fr := range rep.frames {
			_, _ = w.Write(fr)
			w.(http.Flusher).Flush()
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		if rep.status != 0 {
			w.WriteHeader(rep.status)
		}
		_, _ = io.WriteString(w, rep.body)
	}
}

// checkSigV4 returns what is wrong with the request's SigV4 signature
// header ("" when it is one for the test key, region and service).
func checkSigV4(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testKeyID+"/") {
		return "Authorization header requires 'Credential' parameter. Authorization=" + auth
	}
	if !strings.Contains(auth, "/"+testRegion+"/bedrock/aws4_request") || !strings.Contains(auth, "SignedHeaders=") ||
		!strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Date") == "" {
		return "The request signature we calculated does not match the signature you provided. Authorization=" + auth
	}
	return ""
}

// writeAWSError writes an error the way Bedrock's REST-JSON front end does:
// the status, the error code in X-Amzn-ErrorType and {"message"}.
func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

// validateConverse checks a Converse request body the way Bedrock does
// and returns the message of its ValidationException ("" when valid).
func validateConverse(body []byte) string {
	var req struct {
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
		System          []map[string]any `json:"system"`
		InferenceConfig *struct {
			Temperature *float64 `json:"temperature"`
			TopP        *float64 `json:"topP"`
			MaxTokens   *int     `json:"maxTokens"`
		} `json:"inferenceConfig"`
		ToolConfig *struct {
			Tools []map[string]any `json:"tools"`
		} `json:"toolConfig"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "Malformed input request: " + err.Error()
	}
	if len(req.Messages) == 0 {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	if ic := req.InferenceConfig; ic != nil {
		if ic.Temperature != nil && (*ic.Temperature < 0 || *ic.Temperature > 1) {
			return "1 validation error detected: Value at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
		}
		if ic.MaxTokens != nil && *ic.MaxTokens < 1 {
			return "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
		}
	}
	var pending []string
	for i, m := range req.Messages {
		switch {
		case i == 0 && m.Role != "user":
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		case i > 0 && m.Role == req.Messages[i-1].Role:
			return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
		case m.Role != "user" && m.Role != "assistant":
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		case len(m.Content) == 0:
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		answered := map[string]bool{}
		for _, b := range m.Content {
			if t, ok := b["text"]; ok && t == "" {
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.0 is blank. Add text to the text field, and try again.", i)
			}
			_, use := b["toolUse"]
			tr, result := b["toolResult"].(map[string]any)
			if (use || result) && req.ToolConfig == nil {
				return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
			}
			if result {
				id, _ := tr["toolUseId"].(string)
				answered[id] = true
			}
		}
		for _, id := range pending {
			if !answered[id] {
				return fmt.Sprintf("Expected toolResult blocks at messages.%d.content for the following Ids: %s", i, id)
			}
		}
		pending = nil
		if m.Role == "assistant" {
			for _, b := range m.Content {
				if tu, ok := b["toolUse"].(map[string]any); ok {
					id, _ := tu["toolUseId"].(string)
					pending = append(pending, id)
				}
			}
		}
	}
	for _, s := range req.System {
		if t, ok := s["text"]; ok && t == "" {
			return "The text field in the SystemContentBlock object is blank. Add text to the text field, and try again."
		}
	}
	return ""
}

// frame encodes one event-stream message with the SDK's own encoder.
func frame(t testing.TB, headers map[string]string, payload string) []byte {
	t.Helper()
	var msg eventstream.Message
	for _, k := range []string{":event-type", ":exception-type", ":error-code", ":error-message", ":content-type", ":message-type"} {
		if v, ok := headers[k]; ok {
			msg.Headers.Set(k, eventstream.StringValue(v))
		}
	}
	msg.Payload = []byte(payload)
	var b bytes.Buffer
	require.NoError(t, eventstream.NewEncoder().Encode(&b, msg))
	return b.Bytes()
}

// event encodes a ConverseStream event of the given type.
func event(t testing.TB, typ, payload string) []byte {
	return frame(t, map[string]string{":event-type": typ, ":content-type": "application/json", ":message-type": "event"}, payload)
}

// exception encodes an exception event of the given type
// (throttlingException, modelStreamErrorException, ...).
func exception(t testing.TB, typ, message string) []byte {
	b, _ := json.Marshal(map[string]string{"message": message})
	return frame(t, map[string]string{":exception-type": typ, ":content-type": "application/json", ":message-type": "exception"}, string(b))
}

// frames concatenates encoded events.
func frames(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// newTestProvider builds a provider against the fake with static test
// credentials, closed when the test ends.
func newTestProvider(t *testing.T, baseURL string, mods ...func(*llmproxy.ProviderConfig)) *Provider {
	t.Helper()
	isolateAWSConfig(t)
	cfg := llmproxy.ProviderConfig{Name: "bedrock", Type: "bedrock", BaseURL: baseURL, AWSRegion: testRegion}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := newProvider(cfg, llmproxy.NewHTTPClient(cfg), credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""))
	require.NoError(t, err)
	*p.secrets = append(*p.secrets, testSecret)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// isolateAWSConfig keeps the machine's AWS files and variables out of a
// test.
func isolateAWSConfig(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
}

// last returns the last request received.
func (f *fakeBedrock) last(t *testing.T) received {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.reqs, "the upstream received no request")
	return f.reqs[len(f.reqs)-1]
}

// count returns the number of requests received.
func (f *fakeBedrock) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// chatRequest parses a client body as the server would.
func chatRequest(t testing.TB, body string) *llmproxy.ChatRequest {
	t.Helper()
	req, err := llmproxy.ParseChatRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// asError asserts that err is an *llmproxy.Error and returns it.
func asError(t *testing.T, err error) *llmproxy.Error {
	t.Helper()
	require.Error(t, err)
	e, ok := err.(*llmproxy.Error)
	require.Truef(t, ok, "error %T is not an *llmproxy.Error: %v", err, err)
	return e
}

// assertNoSecret checks that no test credential appears in e however
// shown, its envelope included.
func assertNoSecret(t *testing.T, e *llmproxy.Error) {
	t.Helper()
	b, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	secrettest.AssertNoKey(t, testKeyID, e, string(b))
	secrettest.AssertNoKey(t, testSecret, e, string(b))
}
