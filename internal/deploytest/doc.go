// Package deploytest holds the offline checks of the deployment files: the
// Dockerfile (parsed and linted with BuildKit's own Dockerfile parser, its
// binary built with the Dockerfile's go build line and run), the
// .dockerignore (matched with moby/patternmatcher, as docker build does)
// and the Kubernetes manifests under deploy/kubernetes. It has no code of
// its own outside its tests.
package deploytest
