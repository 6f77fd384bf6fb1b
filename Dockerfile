# syntax=docker/dockerfile:1
#
# llmproxy container image: a static binary on distroless/static (CA
# certificates, /etc/passwd with a nonroot user, no shell), see
# docs/deployment.md.
#
#   docker build -t llmproxy --build-arg VERSION=v1.2.3 .
#   docker run -p 8000:8000 -e OPENAI_API_KEY -e PROXY_API_API_KEYS=sk-client \
#     -v "$PWD/config.yaml:/etc/llmproxy/config.yaml:ro" llmproxy
#
# internal/deploytest parses this file and builds the binary with the
# go build line below, flags included: keep them in one RUN.

# build compiles the static binary (CGO_ENABLED=0: no libc needed).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/llmproxy ./cmd/llmproxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/llmproxy /usr/local/bin/llmproxy
# The default configuration; mount your own over it (a ConfigMap in
# Kubernetes). Keys come from the environment (api_key_env), never the image.
COPY config.yaml /etc/llmproxy/config.yaml
# Listen on every interface inside the container (the binary's default,
# 127.0.0.1, would be unreachable from outside it).
ENV PROXY_API_HOST=0.0.0.0 \
    PROXY_API_PORT=8000
EXPOSE 8000
USER nonroot:nonroot
# distroless has no curl or wget: the binary probes itself.
HEALTHCHECK --interval=15s --timeout=6s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/llmproxy", "--config", "/etc/llmproxy/config.yaml", "--healthcheck"]
# SIGTERM starts the graceful shutdown (shutdown_timeout); give `docker stop`
# a longer --time (e.g. docker stop --time 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/llmproxy", "--config", "/etc/llmproxy/config.yaml"]
