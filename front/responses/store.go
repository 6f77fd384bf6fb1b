package responses

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Record is what the front keeps of a response it served, for
// previous_response_id and GET /v1/responses/{id}.
type Record struct {
	// Response is the response object as the client got it.
	Response json.RawMessage `json:"response"`
	// Items is the whole conversation up to and including the response:
	// the items of the responses before it, its input items, then its
	// output items. instructions are not part of it, as for OpenAI: a
	// continuation gives its own.
	Items []json.RawMessage `json:"items"`
	// Provider names the provider that produced the response.
	Provider string `json:"provider"`
	// Upstream reports that the provider speaks the Responses API and was
	// asked to store the response itself, so that it knows the id as
	// previous_response_id (see Front).
	Upstream bool `json:"upstream,omitempty"`
}

// ErrNotFound is the error of a Store that has no record of an id.
var ErrNotFound = errors.New("responses: no stored response with this id")

// Store keeps the responses the front served. Its methods are safe for
// concurrent use.
type Store interface {
	// Get returns the record of id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// Put stores the record of id, replacing any.
	Put(ctx context.Context, id string, r *Record) error
	// Delete forgets id; it returns ErrNotFound when there was no record.
	Delete(ctx context.Context, id string) error
}

// MemoryStore is a Store in the process's memory, bounded in entries and
// time: the least recently stored records make room for new ones, and a
// record older than the TTL is gone. It starts no goroutine.
type MemoryStore struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // of *memEntry, most recently stored first
	byID  map[string]*list.Element
}

type memEntry struct {
	id      string
	rec     []byte // the record encoded, so that no caller shares it
	expires time.Time
}

// NewMemoryStore returns a MemoryStore of at most size records kept for
// ttl each.
func NewMemoryStore(size int, ttl time.Duration) *MemoryStore {
	return &MemoryStore{size: max(size, 1), ttl: ttl, now: time.Now, order: list.New(), byID: map[string]*list.Element{}}
}

// Get returns the record of id.
func (m *MemoryStore) Get(_ context.Context, id string) (*Record, error) {
	m.mu.Lock()
	el, ok := m.byID[id]
	var b []byte
	if ok {
		e := el.Value.(*memEntry)
		if m.now().After(e.expires) {
			m.order.Remove(el)
			delete(m.byID, id)
			ok = false
		} else {
			b = e.rec
		}
	}
	m.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Put stores the record of id, evicting the oldest records over the size.
func (m *MemoryStore) Put(_ context.Context, id string, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	e := &memEntry{id: id, rec: b, expires: m.now().Add(m.ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		m.order.Remove(el)
	}
	m.byID[id] = m.order.PushFront(e)
	for m.order.Len() > m.size {
		last := m.order.Back()
		m.order.Remove(last)
		delete(m.byID, last.Value.(*memEntry).id)
	}
	return nil
}

// Delete forgets id.
func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byID[id]
	if !ok {
		return ErrNotFound
	}
	m.order.Remove(el)
	delete(m.byID, id)
	if m.now().After(el.Value.(*memEntry).expires) {
		return ErrNotFound
	}
	return nil
}

// Len returns the number of records held, expired ones included until
// they are found or pushed out.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}
