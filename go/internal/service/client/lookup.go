package client

// Logical lookups (level 2 spec section 9): one call with any number of
// keys becomes as many sub-calls as the negotiated request size needs;
// answers are checked against their keys, a PAYLOAD_EXCEEDED suffix is
// asked again, and the items are stitched into one response with one
// generation.
//
// How many keys a sub-call carries is chosen by nextCount. The result:
// every exchange carries as many keys as the request size takes, or
// leaves at least half of the response size S to answers, or asks alone a
// key whose answer is larger than that, or is one of the overflows that
// make a growable provider grow (a handful per provider, as its size is
// shared by all sessions and only grows). A call of Q request bytes at
// request size R with A answer bytes thus takes about Q/R + 2·A/S
// exchanges at most, plus two per answer larger than S/2: never two per
// key. Against a provider whose request size is fixed at 1 KiB (the
// reference defaults), keys of ~50 bytes travel ~18 per exchange, so
// 32,768 such keys take ~1,800-3,000 exchanges; much longer keys at that
// count need ClientConfig.MaxLookupSubcalls raised above its 4,096.

import (
	"time"

	netipc "github.com/netdata/netipc/go"
)

// Sizes shared by both lookup methods.
const (
	lookupHeaderLen = 16
	dirEntryLen     = 8
)

func align8(n int) int { return (n + 7) &^ 7 }

// outcome is how one item of a sub-response ended.
type outcome uint8

const (
	// outAnswered: a final answer (including a provider-made
	// OVERSIZED_ITEM for a key sent alone).
	outAnswered outcome = iota
	// outExceeded: PAYLOAD_EXCEEDED; ask again.
	outExceeded
	// outOversized: OVERSIZED_ITEM.
	outOversized
)

// lookupSpec is what differs between the two lookup methods. It holds the
// view of the payload it decoded last.
type lookupSpec[K any] interface {
	// fit returns the most keys from keys whose request fits capacity
	// bytes.
	fit(keys []K, capacity int) int
	// fitAnswers returns the most keys from keys whose minimal answers
	// (the placeholders a provider's budget rules fall back to) fit
	// capacity response bytes.
	fitAnswers(keys []K, capacity int) int
	// requestLen is the size of a request carrying all of keys
	// (math.MaxInt if it cannot be encoded).
	requestLen(keys []K) int
	// oneKeyLen is the size of a request carrying just key.
	oneKeyLen(key K) int
	// oversized appends to dst a client-made OVERSIZED_ITEM for a key
	// that can never be sent; false if the method has none.
	oversized(key K, dst []byte) ([]byte, bool)
	// encode encodes a request of keys into dst (grown as needed).
	encode(keys []K, dst []byte) ([]byte, error)
	// decode decodes and validates a response payload.
	decode(payload []byte) error
	// count, generation, outcome and rawItem read the decoded response.
	count() int
	generation() uint64
	// outcome returns item i's outcome; false if it does not echo key.
	outcome(i int, key K) (outcome, bool)
	rawItem(i int) []byte
	// encodeRaw encodes a response of raw items into dst (of exactly
	// the stitched size) and returns its length.
	encodeRaw(items [][]byte, generation uint64, dst []byte) (int, error)
	// keyName names the key in messages ("path", "pid").
	keyName() string
}

// lookupScratch is the client-owned space of logical lookups: the
// encoded sub-requests, copied items and the stitched response.
type lookupScratch struct {
	request []byte
	items   []byte
	ranges  [][2]int
	raw     [][]byte
	out     []byte
	// End of the packed items of the stitched response, relative to the
	// packed area (8-aligned starts, as the encoder lays them out).
	packed int
	// The response size at which the provider could not place a
	// sub-response's answers and did not grow (0: not found out): kept
	// across calls, so that only the first lookup finds it out.
	fixedResponse uint32
}

func (s *lookupScratch) clear() {
	s.items = s.items[:0]
	s.ranges = s.ranges[:0]
	s.packed = 0
}

func (s *lookupScratch) stitchedLen() int {
	// The packed area starts 8-aligned: header and entries are multiples
	// of 8 bytes.
	return lookupHeaderLen + len(s.ranges)*dirEntryLen + s.packed
}

// Lookup runs the logical lookups of one client.
type Lookup[K any, S lookupSpec[K]] struct {
	core    *Core
	spec    S
	scratch lookupScratch
}

// newLookup returns the lookups of core with spec.
func newLookup[K any, S lookupSpec[K]](core *Core, spec S) *Lookup[K, S] {
	return &Lookup[K, S]{core: core, spec: spec}
}

// errCounted marks an error the core already counted.
type errCounted struct{ error }

// lookupLimit is the error of a lookup beyond one of the client's lookup
// limits.
func lookupLimit(field string, what string, args ...any) error {
	e := netipc.Errorf(netipc.ErrLookupLimit, what, args...)
	e.Msg += ": raise ClientConfig." + field + " in the client config"
	return e
}

// Run looks keys up; on success the spec holds the view of the answer:
// one item per key, in order, from one provider generation.
func (l *Lookup[K, S]) Run(sc *CallScope, keys []K) error {
	c := l.core
	if uint64(len(keys)) > uint64(c.set.MaxLookupItems) {
		c.countError()
		return lookupLimit("MaxLookupItems", "a lookup of %d keys exceeds the client's %d", len(keys), c.set.MaxLookupItems)
	}
	if err := c.Ensure(sc); err != nil {
		return err
	}
	stitched, err := l.loop(sc, keys)
	if err == nil && stitched != nil {
		if err = l.spec.decode(stitched); err != nil {
			err = netipc.Wrap(netipc.ErrCodec, err, "the stitched answer of %q does not decode", c.service)
		}
	}
	if err != nil {
		if ec, ok := err.(errCounted); ok {
			return ec.error
		}
		c.countError()
		return err
	}
	return nil
}

// push copies item unless that makes the stitched response longer than
// limit bytes.
func (l *Lookup[K, S]) push(item []byte, limit int) error {
	s := &l.scratch
	packed := align8(s.packed) + len(item)
	if lookupHeaderLen+(len(s.ranges)+1)*dirEntryLen+packed > limit {
		return l.responseLimit()
	}
	start := len(s.items)
	s.items = append(s.items, item...)
	s.ranges = append(s.ranges, [2]int{start, len(s.items)})
	s.packed = packed
	return nil
}

func (l *Lookup[K, S]) responseLimit() error {
	return lookupLimit("MaxLookupResponseBytes", "the answer of the lookup exceeds the client's %d bytes",
		l.core.set.MaxLookupResponseBytes)
}

// nextCount returns how many keys from the start of rest the next
// sub-call carries.
//
// Every real answer takes at least the bytes of its placeholder, so the
// placeholders of the keys sent bound what the provider must place:
//
//   - When the placeholders of the keys that fit the request overflow the
//     response size S, and the provider may still grow, they are all sent
//     (as reference clients do): a provider that cannot place them answers
//     LIMIT_EXCEEDED and grows its response size, and the call goes on at
//     the larger size. The placeholders never take more than half the
//     largest response this client accepts.
//   - Otherwise the placeholders take at most half of S, so every exchange
//     leaves at least S/2 bytes to the answers and only an answer larger
//     than that is asked alone.
func (l *Lookup[K, S]) nextCount(rest []K, requestFit int, response uint32) int {
	ceiling := l.core.set.ResponseCeiling
	fixed := l.scratch.fixedResponse
	mayGrow := response < ceiling && (fixed == 0 || response > fixed)
	growing := min(requestFit, l.spec.fitAnswers(rest, int(ceiling/2)))
	if mayGrow && growing > l.spec.fitAnswers(rest, int(response)) {
		return growing
	}
	return min(requestFit, max(l.spec.fitAnswers(rest, int(response/2)), 1))
}

// loop runs the sub-calls. It returns the stitched response, or nil when
// one exchange answered every key (the spec's view is then the answer).
func (l *Lookup[K, S]) loop(sc *CallScope, keys []K) ([]byte, error) {
	c := l.core
	set := &c.set
	limit := int(set.MaxLookupResponseBytes)
	l.scratch.clear()
	var (
		generation uint64
		haveGen    bool
		subcalls   uint32
		start      int
		alone      bool
		grown      bool
	)
	for start < len(keys) || !haveGen {
		if err := c.Interrupted(sc); err != nil {
			return nil, err
		}
		rest := keys[start:]
		k := l.spec.fit(rest, int(c.requestCapacity()))
		if k < len(rest) && k > 0 && !grown {
			// Ask once per call for a request size that takes every
			// remaining key: one reconnect now saves an exchange per
			// request-full of keys, in this call and every later one.
			grown = true
			needed := min(l.spec.requestLen(rest), int(set.RequestCeiling))
			if needed > int(c.requestCapacity()) && c.mayPropose(uint32(needed)) {
				c.renegotiateRequest(uint32(needed), sc.Deadline)
				if c.State() != netipc.StateReady {
					return nil, c.notReady()
				}
				k = l.spec.fit(rest, int(c.requestCapacity()))
			}
		}
		response := c.responseCapacity()
		switch {
		case alone:
			k = min(k, 1)
		case k != 0:
			k = l.nextCount(rest, k, response)
		}
		if k == 0 && start < len(keys) {
			needed := l.spec.oneKeyLen(keys[start])
			if needed <= int(set.RequestCeiling) {
				if !c.renegotiateRequest(uint32(needed), sc.Deadline) {
					c.breakSession()
					return nil, c.capacityExhausted()
				}
				continue
			}
			item, ok := l.spec.oversized(keys[start], l.scratch.out[:0])
			if !ok {
				return nil, netipc.Errorf(netipc.ErrLimitExceeded,
					"a request of one %s to %q needs %d bytes, more than ClientConfig.MaxRequestPayloadBytes (%d)",
					l.spec.keyName(), c.service, needed, set.RequestCeiling)
			}
			l.scratch.out = item[:0]
			if err := l.push(item, limit); err != nil {
				return nil, err
			}
			start++
			continue
		}
		req, err := l.spec.encode(keys[start:start+k], l.scratch.request[:0])
		if err != nil {
			return nil, netipc.Wrap(netipc.ErrCodec, err, "a lookup request to %q cannot be encoded", c.service)
		}
		l.scratch.request = req
		subcalls++
		if subcalls > set.MaxLookupSubcalls {
			return nil, lookupLimit("MaxLookupSubcalls", "the lookup of %d keys needs more than the client's %d exchanges",
				len(keys), set.MaxLookupSubcalls)
		}
		if !time.Now().Before(sc.Deadline) {
			return nil, c.timeoutError(sc, nil)
		}
		if err := c.Call(sc, Request{Payload: req}, nil); err != nil {
			// The provider could not place the answers (or closed the
			// connection instead of saying so) and the call's own
			// recovery did not get it to grow far enough: go on at the
			// size the provider now has, or, if it did not grow at all,
			// remember that it does not and leave room for the answers.
			kind := KindOf(err)
			fixed := l.scratch.fixedResponse
			if (kind == netipc.ErrLimitExceeded || kind == netipc.ErrDisconnected) && (fixed == 0 || response > fixed) {
				if c.Connect(sc.Deadline) != nil {
					return nil, errCounted{err}
				}
				if c.responseCapacity() <= response {
					if kind == netipc.ErrDisconnected {
						return nil, errCounted{err}
					}
					l.scratch.fixedResponse = c.responseCapacity()
				}
				continue
			}
			return nil, errCounted{err}
		}
		payload := c.response().Payload
		// One exchange that answers every key needs no stitching.
		whole := start == 0 && k == len(keys)
		g, answeredN, firstAlone, err := l.take(payload, keys[start:start+k], whole, limit)
		if err != nil {
			return nil, err
		}
		if haveGen && g != generation {
			return nil, c.badResponse("the generation changed between sub-responses")
		}
		generation, haveGen = g, true
		switch {
		case firstAlone:
			alone = true
		case whole && answeredN == k:
			if len(payload) > limit {
				return nil, l.responseLimit()
			}
			return nil, nil
		default:
			start += answeredN
			alone = false
		}
	}
	return l.stitch(generation)
}

// take checks one sub-response against keys (one item per key, each
// echoing its key, a PAYLOAD_EXCEEDED suffix only) and copies the final
// items. It returns the generation and how many keys got final answers,
// or firstAlone: the first key came back OVERSIZED_ITEM only because the
// budget also had to hold the other keys' placeholders, so it is asked
// alone.
//
// whole: this sub-response is the first and covers every key of the call;
// if it answers them all, it is the result as it is and nothing is copied.
func (l *Lookup[K, S]) take(payload []byte, keys []K, whole bool, limit int) (gen uint64, answeredN int, firstAlone bool, err error) {
	c := l.core
	if err := l.spec.decode(payload); err != nil {
		return 0, 0, false, netipc.Wrap(netipc.ErrCodec, err, "a lookup response of %q does not decode", c.service)
	}
	if l.spec.count() != len(keys) {
		return 0, 0, false, c.badResponse("the sub-response has another item count")
	}
	answeredN = len(keys)
	for i, key := range keys {
		o, ok := l.spec.outcome(i, key)
		switch {
		case !ok:
			return 0, 0, false, c.badResponse("an item does not echo its " + l.spec.keyName())
		case o == outExceeded && i == 0:
			return 0, 0, false, c.capacityExhausted()
		case o == outExceeded:
			answeredN = min(answeredN, i)
		case answeredN < len(keys):
			return 0, 0, false, c.badResponse("an item follows a PAYLOAD_EXCEEDED item")
		case o == outOversized && i == 0 && len(keys) > 1:
			return l.spec.generation(), 0, true, nil
		}
	}
	if !whole || answeredN != len(keys) {
		for i := 0; i < answeredN; i++ {
			if err := l.push(l.spec.rawItem(i), limit); err != nil {
				return 0, 0, false, err
			}
		}
	}
	return l.spec.generation(), answeredN, false, nil
}

// stitch encodes the copied items into one response.
func (l *Lookup[K, S]) stitch(generation uint64) ([]byte, error) {
	s := &l.scratch
	n := s.stitchedLen()
	if n > int(l.core.set.MaxLookupResponseBytes) {
		return nil, l.responseLimit()
	}
	s.raw = s.raw[:0]
	for _, r := range s.ranges {
		s.raw = append(s.raw, s.items[r[0]:r[1]])
	}
	if cap(s.out) < n {
		s.out = make([]byte, n)
	}
	s.out = s.out[:n]
	m, err := l.spec.encodeRaw(s.raw, generation, s.out)
	clear(s.raw)
	if err != nil {
		return nil, netipc.Wrap(netipc.ErrCodec, err, "the answers of %q cannot be stitched", l.core.service)
	}
	return s.out[:m], nil
}
