package protocol

// Netdata's vocabulary: the hash its producers put in every cgroups
// snapshot item, the option flags of those items, and the names of the
// standard services.

// NetdataHash is Netdata's simple_hash() of libnetdata: 32-bit FNV-1 over
// the bytes of s (offset basis 0x811c9dc5; for each byte, multiply by the
// FNV prime 16777619, then XOR the byte). Its source comment calls it
// FNV-1a, but the code multiplies first, and that is what every Netdata
// producer sends as a cgroups snapshot item's hash.
//
// The protocol never recomputes an item's hash: the producer chooses it
// and consumers look items up by (hash, name). A consumer of a Netdata
// producer must therefore hash names exactly as Netdata does, with this
// function.
func NetdataHash[S ~string | ~[]byte](s S) uint32 {
	h := uint32(0x811c9dc5)
	for i := 0; i < len(s); i++ {
		h = h*16777619 ^ uint32(s[i])
	}
	return h
}

// The service names Netdata's plugins use for the standard services.
const (
	// ServiceCgroupsSnapshot serves the cgroups snapshot
	// (MethodCgroupsSnapshot).
	ServiceCgroupsSnapshot = "cgroups-snapshot"
	// ServiceCgroupsLookup serves cgroup path lookups (MethodCgroupsLookup).
	ServiceCgroupsLookup = "cgroups-lookup"
	// ServiceAppsLookup serves process lookups (MethodAppsLookup).
	ServiceAppsLookup = "apps-lookup"
)

// Flags of a cgroups snapshot item's options field, as Netdata's cgroups
// plugin sets them. The protocol carries the field untouched; a provider
// that stands in for the plugin uses these values so that Netdata's
// consumers read them the same way.
const (
	// CgroupOptionDisabledDuplicate marks a later cgroup with the name of
	// an earlier one; it is published disabled (enabled 0).
	CgroupOptionDisabledDuplicate uint32 = 0x1
	// CgroupOptionSystemSliceService marks a service directly under
	// systemd's system.slice.
	CgroupOptionSystemSliceService uint32 = 0x2
	// CgroupOptionIsUnified marks a cgroup in a cgroup v2 (unified)
	// hierarchy.
	CgroupOptionIsUnified uint32 = 0x4
)
