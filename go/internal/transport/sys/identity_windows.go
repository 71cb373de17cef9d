package sys

// The client's check of a provider, as the Rust core makes it on
// Windows: the process serving the pipe (GetNamedPipeServerProcessId)
// must run as this process's user or as the OS administrator, that is
// its token's user, or one of its enabled groups, is this process's user
// SID, LocalSystem or Administrators (which counts only where it is
// enabled: in an elevated token).

import (
	"fmt"
	"syscall"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
)

const (
	sidLocalSystem    = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
)

// tokenGroups is the head of TOKEN_GROUPS; its Groups run on past the
// first entry.
type tokenGroups struct {
	GroupCount uint32
	Groups     [1]syscall.SIDAndAttributes
}

// processIdentity returns the user SID and the SIDs of the enabled
// groups of process pid's token (ok false when the process or its token
// cannot be opened by this process).
func processIdentity(pid uint32) (user string, groups []string, ok bool) {
	process, err := syscall.OpenProcess(processQueryLimitedInfo, false, pid)
	if err != nil {
		return "", nil, false
	}
	defer syscall.CloseHandle(process)
	var token syscall.Token
	if syscall.OpenProcessToken(process, syscall.TOKEN_QUERY, &token) != nil {
		return "", nil, false
	}
	defer token.Close()
	tu, err := token.GetTokenUser()
	if err != nil || !isValidSid(tu.User.Sid) {
		return "", nil, false
	}
	if user, err = tu.User.Sid.String(); err != nil {
		return "", nil, false
	}
	return user, enabledGroups(token), true
}

// enabledGroups returns the SIDs of the token's groups that count for
// access checks (enabled, not deny-only).
func enabledGroups(token syscall.Token) []string {
	var size uint32
	_ = syscall.GetTokenInformation(token, syscall.TokenGroups, nil, 0, &size)
	if size < uint32(unsafe.Sizeof(tokenGroups{})) {
		return nil
	}
	// 8-byte aligned, as TOKEN_GROUPS needs.
	buf := make([]uint64, (size+7)/8)
	if syscall.GetTokenInformation(token, syscall.TokenGroups, (*byte)(unsafe.Pointer(&buf[0])), uint32(len(buf)*8), &size) != nil {
		return nil
	}
	tg := (*tokenGroups)(unsafe.Pointer(&buf[0]))
	entries := unsafe.Slice(&tg.Groups[0], tg.GroupCount)
	var out []string
	for _, g := range entries {
		if g.Attributes&seGroupEnabled == 0 || g.Attributes&seGroupUseForDenyOnly != 0 || !isValidSid(g.Sid) {
			continue
		}
		if s, err := g.Sid.String(); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// accountName is "DOMAIN\name (SID)" for messages, or the SID alone.
func accountName(sid string) string {
	s, err := syscall.StringToSid(sid)
	if err != nil {
		return sid
	}
	account, domain, _, err := s.LookupAccount("")
	if err != nil {
		return sid
	}
	if domain != "" {
		account = domain + `\` + account
	}
	return account + " (" + sid + ")"
}

// CheckProvider is the client's check of a provider before it sends its
// HELLO (and with it the auth token): the process serving the pipe must
// run as this process's user, as LocalSystem, or elevated as a member of
// Administrators.
func CheckProvider(c *Conn, endpoint string) error {
	me, err := currentUserSID()
	if err != nil {
		return netipc.Wrap(netipc.ErrIO, err, "checking the provider at %s: cannot read this process's user", endpoint)
	}
	cr := c.cred
	var user string
	if cr.Known {
		var groups []string
		var ok bool
		if user, groups, ok = processIdentity(uint32(cr.PID)); ok {
			for _, id := range append(groups, user) {
				if id == me || id == sidLocalSystem || id == sidAdministrators {
					return nil
				}
			}
		}
	}
	who := "does not tell who it runs as"
	switch {
	case user != "":
		who = fmt.Sprintf("runs as %s (pid %d)", accountName(user), cr.PID)
	case cr.Known:
		who = fmt.Sprintf("(pid %d) cannot be identified by this process", cr.PID)
	}
	return netipc.Errorf(netipc.ErrPermission,
		"the provider at %s %s (expected %s, LocalSystem or an elevated administrator); refusing to send the auth token: stop the process that holds the pipe, or run this client as the provider's user",
		endpoint, who, accountName(me))
}
