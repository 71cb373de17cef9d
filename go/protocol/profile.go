package protocol

import (
	"math/bits"
	"strconv"
	"strings"
)

// Select returns the profile a handshake selects from the common profiles
// p: the highest bit of p&preferred if there is one, else the highest bit
// of p; 0 when p is 0. preferred is what both sides prefer (the client's
// preference AND the server's). With no preference the highest common bit
// wins, so shared memory is chosen whenever both sides offer it.
func (p Profile) Select(preferred Profile) Profile {
	pool := p & preferred
	if pool == 0 {
		pool = p
	}
	if pool == 0 {
		return 0
	}
	return Profile(1) << (bits.Len32(uint32(pool)) - 1)
}

var profileNames = [...]struct {
	bit  Profile
	name string
}{
	{ProfileBaseline, "baseline"},
	{ProfileSHMHybrid, "shm-hybrid"},
	{ProfileSHMAlt, "shm-alt"},
	{ProfileSHMWaitAddr, "shm-waitaddr"},
}

// String returns the profiles' names joined by "|" ("baseline|shm-hybrid");
// bits the protocol does not define are printed in hex, the empty set as
// "none".
func (p Profile) String() string {
	if p == 0 {
		return "none"
	}
	var b strings.Builder
	for rest := p; rest != 0; rest &= rest - 1 {
		bit := rest & -rest
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		name := ""
		for _, n := range profileNames {
			if n.bit == bit {
				name = n.name
			}
		}
		if name == "" {
			name = "0x" + strconv.FormatUint(uint64(bit), 16)
		}
		b.WriteString(name)
	}
	return b.String()
}
