package ratelimit

import "github.com/redis/go-redis/v9"

// Client returns the connection's go-redis client, for state other than
// limits and breakers that the replicas of a deployment share (such as the
// stored responses of the Responses front). Its calls do not go through
// the outage fallback of the limits: the caller handles their errors. The
// Redis value owns the client: callers must not close it.
func (r *Redis) Client() *redis.Client { return r.client }

// KeyPrefix returns the prefix every key of the deployment starts with
// (RedisOptions.KeyPrefix, or DefaultKeyPrefix).
func (r *Redis) KeyPrefix() string { return r.prefix }
