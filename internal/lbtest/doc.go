// Package lbtest runs llmproxy as it is deployed: three llmproxy processes
// sharing one real redis-server, behind a real nginx, in front of an
// in-test upstream, all on loopback. Its test shows that the replicas hold
// their shared limits and breakers together, that a replica stopped with
// SIGTERM under load loses no admitted request, and that a Redis restart
// under load loses none either. It has no code outside its test.
package lbtest
