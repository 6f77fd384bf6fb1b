package responses

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is a Store in Redis, shared by the replicas of a deployment:
// each record is one string key, <prefix>resp:<id>, that expires after
// the TTL.
type RedisStore struct {
	client *redis.Client
	prefix string
	ttl    time.Duration
}

// NewRedisStore returns a Store in the Redis server of client, with keys
// starting with prefix, kept for ttl.
func NewRedisStore(client *redis.Client, prefix string, ttl time.Duration) *RedisStore {
	return &RedisStore{client: client, prefix: prefix + "resp:", ttl: ttl}
}

// Get returns the record of id.
func (s *RedisStore) Get(ctx context.Context, id string) (*Record, error) {
	b, err := s.client.Get(ctx, s.prefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Put stores the record of id.
func (s *RedisStore) Put(ctx context.Context, id string, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.client.Set(ctx, s.prefix+id, b, s.ttl).Err()
}

// Delete forgets id.
func (s *RedisStore) Delete(ctx context.Context, id string) error {
	n, err := s.client.Del(ctx, s.prefix+id).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
