package sys

// The security descriptor of every named pipe instance and every
// shared-memory object a provider creates, as the Rust core makes it: a
// protected DACL that grants full access to this process's user, to
// LocalSystem and to the Administrators group, and nothing to anyone
// else. Nothing inherits from the parent object (the "P" flag), so the
// DACL is exactly this.

import (
	"sync"
	"syscall"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
)

// currentUserSID is this process's user SID in string form (S-1-5-...),
// read from its token once.
var currentUserSID = sync.OnceValues(func() (string, error) {
	token, err := syscall.OpenCurrentProcessToken()
	if err != nil {
		return "", err
	}
	defer token.Close()
	user, err := token.GetTokenUser()
	if err != nil {
		return "", err
	}
	return user.User.Sid.String()
})

// objectSecurity returns the SECURITY_ATTRIBUTES for a pipe instance
// (pipe true) or a shared-memory mapping or event (pipe false), and the
// function that frees them (idempotent): call it once the object is
// created; the attributes must not be used after. Both kinds of object get the same
// owner-only DACL; the distinction matters to the group access the Rust
// core can add, which this implementation does not offer.
func objectSecurity(pipe bool) (*syscall.SecurityAttributes, func(), error) {
	user, err := currentUserSID()
	if err != nil {
		return nil, nil, netipc.Wrap(netipc.ErrIO, err, "building the security descriptor: cannot read this process's user")
	}
	sd, err := securityDescriptorFromSDDL("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;" + user + ")")
	if err != nil {
		return nil, nil, netipc.Wrap(netipc.ErrIO, err, "building the security descriptor")
	}
	sa := &syscall.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	var once sync.Once
	free := func() { once.Do(func() { syscall.LocalFree(syscall.Handle(sd)) }) }
	return sa, free, nil
}
