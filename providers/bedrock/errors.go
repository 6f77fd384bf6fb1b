package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/llmproxy/llmproxy"
)

// maxMessageBytes caps an upstream error message kept in an *Error.
const maxMessageBytes = 4096

// codeKinds classifies Bedrock's error codes (the exception names of the
// runtime API, and the codes AWS's front ends answer for any service).
var codeKinds = map[string]llmproxy.ErrorKind{
	"ThrottlingException":                 llmproxy.KindRateLimited,
	"ServiceQuotaExceededException":       llmproxy.KindRateLimited,
	"TooManyRequestsException":            llmproxy.KindRateLimited,
	"ValidationException":                 llmproxy.KindInvalidRequest,
	"SerializationException":              llmproxy.KindInvalidRequest,
	"AccessDeniedException":               llmproxy.KindAuth,
	"UnrecognizedClientException":         llmproxy.KindAuth,
	"InvalidSignatureException":           llmproxy.KindAuth,
	"IncompleteSignature":                 llmproxy.KindAuth,
	"IncompleteSignatureException":        llmproxy.KindAuth,
	"MissingAuthenticationToken":          llmproxy.KindAuth,
	"MissingAuthenticationTokenException": llmproxy.KindAuth,
	"ExpiredTokenException":               llmproxy.KindAuth,
	"InvalidClientTokenId":                llmproxy.KindAuth,
	"SignatureDoesNotMatch":               llmproxy.KindAuth,
	"ResourceNotFoundException":           llmproxy.KindNotFound,
	"ModelNotReadyException":              llmproxy.KindUnavailable,
	"ModelErrorException":                 llmproxy.KindUnavailable,
	"ModelStreamErrorException":           llmproxy.KindUnavailable,
	"InternalServerException":             llmproxy.KindUnavailable,
	"ServiceUnavailableException":         llmproxy.KindUnavailable,
	"InternalFailure":                     llmproxy.KindUnavailable,
	"ModelTimeoutException":               llmproxy.KindTimeout,
}

// codeStatus is the status a client is answered with for the codes whose
// HTTP status would contradict their kind (Bedrock answers
// ServiceQuotaExceededException with 400, ModelNotReadyException with 429,
// ModelErrorException with 424 and ModelTimeoutException with 408), and
// for the errors of a stream, whose exception events have no status.
var codeStatus = map[string]int{
	"ThrottlingException":           http.StatusTooManyRequests,
	"ServiceQuotaExceededException": http.StatusTooManyRequests,
	"TooManyRequestsException":      http.StatusTooManyRequests,
	"ValidationException":           http.StatusBadRequest,
	"ModelNotReadyException":        http.StatusServiceUnavailable,
	"ModelErrorException":           http.StatusBadGateway,
	"ModelStreamErrorException":     http.StatusBadGateway,
	"ModelTimeoutException":         http.StatusGatewayTimeout,
}

// sdkError turns an error of the SDK into an *llmproxy.Error of this
// provider (see the package documentation). ctx is the attempt's context.
// The message is the upstream's, with any credential of the provider
// redacted; the cause keeps the error code and the request id, never the
// SDK's error values (which hold the request).
func (p *Provider) sdkError(ctx context.Context, err error) *llmproxy.Error {
	if e, ok := errors.AsType[*llmproxy.Error](err); ok {
		return e
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return llmproxy.TransportError(ctx, p.name, err)
	}
	if _, ok := errors.AsType[*credentialsError](err); ok {
		return &llmproxy.Error{Kind: llmproxy.KindAuth, Provider: p.name,
			Message: "could not obtain AWS credentials", Err: errors.New(p.redact(err.Error()))}
	}
	apiErr, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		if _, isOp := errors.AsType[*smithy.OperationError](err); isOp {
			if _, isDeser := errors.AsType[*smithy.DeserializationError](err); isDeser {
				return &llmproxy.Error{Kind: llmproxy.KindUnavailable, Provider: p.name,
					Message: "the upstream sent an invalid answer", Err: errors.New(p.redact(err.Error()))}
			}
		}
		return llmproxy.TransportError(ctx, p.name, err)
	}
	code := apiErr.ErrorCode()
	e := &llmproxy.Error{Provider: p.name, Code: code}
	status, reqID := 0, ""
	var header http.Header
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok {
		status, reqID = re.HTTPStatusCode(), re.ServiceRequestID()
		if re.Response != nil {
			header = re.Response.Header
		}
	}
	kind, known := codeKinds[code]
	switch {
	case known:
		e.Kind = kind
	case status != 0:
		e.Kind = llmproxy.KindFromStatus(status)
	default:
		e.Kind = llmproxy.KindUnavailable
	}
	switch {
	case codeStatus[code] != 0:
		e.Status = codeStatus[code]
	case status != 0:
		e.Status = status
	}
	if e.Kind == llmproxy.KindRateLimited || e.Kind == llmproxy.KindUnavailable {
		if header != nil {
			e.RetryAfter = llmproxy.ParseRetryAfter(header, time.Now())
		}
	}
	msg := apiErr.ErrorMessage()
	if mse, ok := errors.AsType[*types.ModelStreamErrorException](err); ok && mse.OriginalMessage != nil && *mse.OriginalMessage != "" {
		msg += " (the model said: " + *mse.OriginalMessage + ")"
	}
	msg = p.redact(msg)
	if len(msg) > maxMessageBytes {
		msg = msg[:maxMessageBytes]
	}
	if msg == "" || msg == "UnknownError" {
		msg = "Bedrock answered " + code
	}
	e.Message = msg
	if e.Kind == llmproxy.KindInvalidRequest && (e.Status == 0 || e.Status >= 500) {
		e.Status = http.StatusBadRequest
	}
	cause := fmt.Sprintf("bedrock %s (status %d)", code, status)
	if reqID != "" {
		cause += ", request id " + reqID
	}
	e.Err = errors.New(cause)
	return e
}

// accessKeyID matches AWS access key ids (long-term AKIA, temporary ASIA),
// which AWS may echo in the messages of signature errors.
var accessKeyID = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)

// redact removes the provider's credentials, and anything that looks like
// an AWS access key id, from a message.
func (p *Provider) redact(s string) string {
	s = accessKeyID.ReplaceAllString(s, "[redacted]")
	for _, secret := range *p.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// withProvider names the provider in an error made by a translator.
func (p *Provider) withProvider(err *llmproxy.Error) *llmproxy.Error {
	err.Provider = p.name
	return err
}
