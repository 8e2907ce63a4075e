package gateway

import (
	"container/list"
	"sync"
)

// cached is one remembered catalogue answer.
type cached struct {
	key         string
	body        []byte
	contentType string
	link        string
}

// lru is a bounded last-known-good store, safe for concurrent use.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recent
	items map[string]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(key string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return cached{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(cached), true
}

func (c *lru) put(v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[v.key]; ok {
		e.Value = v
		c.order.MoveToFront(e)
		return
	}
	c.items[v.key] = c.order.PushFront(v)
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(cached).key)
	}
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
