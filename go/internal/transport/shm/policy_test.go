package shm

import (
	"testing"
	"time"
)

// waits runs n waits through p, each caught or not (and, for answers,
// slow when not caught); it returns which were brief.
func waits(p *policy, n int, caught bool) []bool {
	briefs := make([]bool, n)
	for i := range briefs {
		s := p.next()
		briefs[i] = s.brief
		if !caught {
			s.yielding = time.Now().Add(-2 * slowWait)
		}
		p.record(&s, caught)
	}
	return briefs
}

func count(briefs []bool) (n int) {
	for _, b := range briefs {
		if b {
			n++
		}
	}
	return n
}

func TestPolicyPollsFullyWhileMessagesComeInTime(t *testing.T) {
	for _, p := range []*policy{{}, {requests: true}} {
		if n := count(waits(p, 1000, true)); n != 0 {
			t.Fatalf("%d brief waits", n)
		}
		waits(p, 2, false)
		waits(p, 1, true)
		waits(p, 2, false)
		if p.briefLeft != 0 || p.probeEvery != 0 {
			t.Fatalf("brief after two misses in a row: %+v", p)
		}
	}
}

func TestPolicyServerProbesBackOff(t *testing.T) {
	p := &policy{requests: true}
	if n := count(waits(p, slowWaits, false)); n != 0 {
		t.Fatalf("%d brief waits", n)
	}
	every := briefWaits
	for range 8 {
		briefs := waits(p, every+1, false)
		if count(briefs[:every]) != every || briefs[every] {
			t.Fatalf("no probe after %d brief waits", every)
		}
		every = min(every*2, probeEveryMax)
	}
	// A probe that catches its request brings the full polling back.
	waits(p, every, true)
	if b := waits(p, 1, true); b[0] {
		t.Fatal("no probe")
	}
	if n := count(waits(p, 100, true)); n != 0 {
		t.Fatalf("%d brief waits after a caught probe", n)
	}
}

func TestPolicyClientStretchesLastWhileAnswersAreSlow(t *testing.T) {
	p := &policy{}
	waits(p, slowWaits, false)
	if n := count(waits(p, 10*briefWaits, false)); n != 10*briefWaits {
		t.Fatalf("%d brief waits of %d", n, 10*briefWaits)
	}
	briefs := waits(p, briefWaits+1, true)
	if briefs[briefWaits] || p.briefLeft != 0 {
		t.Fatal("the stretch did not end")
	}
}
