package shm

// policy adapts how long a waiter polls before it sleeps to its peer; the
// Rust core's rules (its transport/spin.rs), so that a Go side costs the
// same CPU as a Rust one at a given call rate.
//
// A client waits for answers: its answer is on its way and comes late only
// when the provider is busy (many consumers on few cores). After slowWaits
// answers in a row that came slowWait or more after the pure polls, it
// polls only briefly for the next briefWaits waits, a stretch that slow
// answers renew: polling would only take CPU from the threads that are to
// answer. A fixed stretch, not "until one quick answer": otherwise the
// waiters that happen to poll get the quick answers and keep polling, and
// the others are served less.
//
// A server waits for its session's next request, which comes when its
// client calls again: maybe within microseconds, maybe in a second. It
// polls for requestSpinTime; after slowWaits requests in a row that came
// later it polls only briefly, and every so often polls for the whole time
// again (a probe): a probe that catches its request brings the full
// polling back, one that does not makes the next come twice as late (from
// briefWaits up to probeEveryMax waits apart). A provider whose calls are
// sparse thus sleeps at once, and one of a busy pair keeps polling.
type policy struct {
	// requests: a server's policy (probing, backing off).
	requests bool
	// misses counts slow answers, or requests that came after the
	// polling, in a row.
	misses uint8
	// briefLeft is the brief waits left in the current stretch.
	briefLeft uint16
	// probeEvery is the length of a server's current stretch, 0 while it
	// polls fully.
	probeEvery uint16
}

// next returns the polling phase of the next wait.
func (p *policy) next() spin {
	if p.briefLeft > 0 {
		p.briefLeft--
		return spin{brief: true}
	}
	if p.requests {
		return spin{limit: requestSpinTime}
	}
	return spin{limit: spinTime}
}

// record adapts the policy to how a wait whose phase came from next went:
// caught when its message arrived while it polled (it did not sleep).
func (p *policy) record(s *spin, caught bool) {
	if !p.requests {
		if !s.slow() {
			p.misses = 0
			return
		}
		p.misses++
		if p.misses >= slowWaits {
			p.misses = 0
			p.briefLeft = briefWaits
		}
		return
	}
	// A brief wait says nothing about the full polling.
	if s.brief {
		return
	}
	switch {
	case caught:
		p.misses, p.probeEvery = 0, 0
	case p.probeEvery > 0:
		// A probe that missed: the next one comes twice as late.
		p.probeEvery = min(p.probeEvery*2, probeEveryMax)
		p.briefLeft = p.probeEvery
	default:
		p.misses++
		if p.misses >= slowWaits {
			p.misses = 0
			p.probeEvery = briefWaits
			p.briefLeft = briefWaits
		}
	}
}
