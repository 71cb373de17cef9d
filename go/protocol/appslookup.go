package protocol

import "iter"

// APPS_LOOKUP (method 5): ordered PID -> process and cgroup metadata.
//
// Request: the lookup header, a directory, then one 8-byte key
// {pid u32, reserved u32 = 0} per PID. Response: the lookup header, a
// directory, then one item per PID, in request order: a 60-byte fixed
// header, then comm, cgroup path, cgroup name and the optional label
// table. The response decoder validates every item when the view is
// created.

// APPS_LOOKUP sizes and values.
const (
	// AppsLookupKeyLen is the size of one request key.
	AppsLookupKeyLen = 8
	// AppsLookupItemHeaderLen is the size of an item's fixed header.
	AppsLookupItemHeaderLen = 60
	// AppsLookupPlaceholderLen is the size of a not-enriched item: the
	// header and three empty strings.
	AppsLookupPlaceholderLen = AppsLookupItemHeaderLen + 3
	// UIDUnset is the uid of items that carry none.
	UIDUnset uint32 = 0xFFFFFFFF
	// CommMaxLen is the longest process name (comm) in bytes.
	CommMaxLen = 15
)

// PIDStatus is the outcome for one PID.
type PIDStatus uint16

// The PID outcomes.
const (
	// PIDKnown: the process is known; its fields are filled in.
	PIDKnown PIDStatus = 0
	// PIDUnknown: no such process (or it vanished).
	PIDUnknown PIDStatus = 1
	// PIDPayloadExceeded: the response budget ran out at this item; the
	// client asks it again.
	PIDPayloadExceeded PIDStatus = 2
	// PIDOversizedItem: this item can never fit a response; a final
	// outcome.
	PIDOversizedItem PIDStatus = 3
)

var pidStatusNames = [...]string{"KNOWN", "UNKNOWN", "PAYLOAD_EXCEEDED", "OVERSIZED_ITEM"}

// String returns the specification's name of the status ("KNOWN", ...).
func (s PIDStatus) String() string {
	return enumName(uint16(s), pidStatusNames[:], "PIDStatus")
}

// CgroupStatus is what is known about a process's cgroup.
type CgroupStatus uint16

// The cgroup outcomes.
const (
	// CgroupKnown: the cgroup is known: path (not empty), name,
	// orchestrator, labels.
	CgroupKnown CgroupStatus = 0
	// CgroupUnknownRetryLater: not known yet (the path may be empty).
	CgroupUnknownRetryLater CgroupStatus = 1
	// CgroupUnknownPermanent: known path, but it will never be enriched.
	CgroupUnknownPermanent CgroupStatus = 2
	// CgroupHostRoot: the process lives in the host's root cgroup (no
	// path).
	CgroupHostRoot CgroupStatus = 3
)

var cgroupStatusNames = [...]string{"KNOWN", "UNKNOWN_RETRY_LATER", "UNKNOWN_PERMANENT", "HOST_ROOT"}

// String returns the specification's name of the status ("KNOWN", ...).
func (s CgroupStatus) String() string {
	return enumName(uint16(s), cgroupStatusNames[:], "CgroupStatus")
}

// AppsLookupRequestLen is the encoded size of a request for n PIDs:
// 16 + 16n.
func AppsLookupRequestLen(n int) int {
	return LookupHeaderLen + n*(DirEntryLen+AppsLookupKeyLen)
}

// AppsLookupRequestFit is how many of n PIDs a request of at most budget
// bytes carries.
func AppsLookupRequestFit(n, budget int) int {
	return max(0, min(n, (budget-LookupHeaderLen)/(DirEntryLen+AppsLookupKeyLen)))
}

// AppsLookupPlaceholdersFit is how many of n PIDs have minimal answers
// (the placeholders a server's budget rules fall back to) that fit a
// response of capacity bytes.
func AppsLookupPlaceholdersFit(n, capacity int) int {
	perKey := DirEntryLen + alignUp8(AppsLookupPlaceholderLen)
	return max(0, min(n, (capacity-LookupHeaderLen)/perKey))
}

// EncodeAppsLookupRequest encodes a request for pids, in order, into dst
// and returns its length, AppsLookupRequestLen(len(pids)). It fails with
// Overflow when dst is too small or the size does not fit a u32.
func EncodeAppsLookupRequest(dst []byte, pids []uint32) (int, error) {
	total, ok := wireSize(uint64(LookupHeaderLen) + uint64(len(pids))*(DirEntryLen+AppsLookupKeyLen))
	if !ok || total > len(dst) {
		return 0, codecErr(Overflow, "apps lookup request", 0)
	}
	packedStart := LookupHeaderLen + len(pids)*DirEntryLen
	for i, pid := range pids {
		entry := LookupHeaderLen + i*DirEntryLen
		key := packedStart + i*AppsLookupKeyLen
		setU32(dst, entry, uint32(i*AppsLookupKeyLen))
		setU32(dst, entry+4, AppsLookupKeyLen)
		setU32(dst, key, pid)
		setU32(dst, key+4, 0)
	}
	setU16(dst, 0, 1)
	setU16(dst, 2, 0)
	setU32(dst, 4, uint32(len(pids)))
	setU32(dst, 8, 0)
	setU32(dst, 12, 0)
	return total, nil
}

// AppsLookupRequestView is a decoded APPS_LOOKUP request borrowing its
// payload. The zero value is a request without keys.
type AppsLookupRequestView struct {
	lookupRequest
}

// DecodeAppsLookupRequest validates a whole request (header, ordered
// directory of exactly 8-byte keys, every key's reserved field) and
// returns its view. It allocates nothing. It fails with Truncated,
// BadLayout, BadAlignment or OutOfBounds and the offending byte offset.
func DecodeAppsLookupRequest(payload []byte) (AppsLookupRequestView, error) {
	count, err := lookupRequestHeader(payload, "apps lookup request header")
	if err != nil {
		return AppsLookupRequestView{}, err
	}
	packedStart, err := lookupOrderedDir(payload, count, AppsLookupKeyLen, true, "apps lookup key")
	if err != nil {
		return AppsLookupRequestView{}, err
	}
	for i := 0; i < count; i++ {
		key, _ := lookupEntry(payload, packedStart, i)
		if u32at(key, 4) != 0 {
			start := packedStart + intAt(payload, LookupHeaderLen+i*DirEntryLen)
			return AppsLookupRequestView{}, codecErr(BadLayout, "apps lookup key reserved", start+4)
		}
	}
	return AppsLookupRequestView{lookupRequest{payload: payload, count: count, packedStart: packedStart}}, nil
}

// PID returns PID i. It fails with OutOfBounds for an index out of range.
func (r AppsLookupRequestView) PID(i int) (uint32, error) {
	key, err := r.key(i, "apps lookup key")
	if err != nil || len(key) < 4 {
		return 0, codecErr(OutOfBounds, "apps lookup key", LookupHeaderLen+i*DirEntryLen+4)
	}
	return u32at(key, 0), nil
}

// PIDs yields the PIDs in order with their index (stopping early only if
// the payload was changed after decoding).
func (r AppsLookupRequestView) PIDs() iter.Seq2[int, uint32] {
	return func(yield func(int, uint32) bool) {
		for i := 0; i < r.count; i++ {
			pid, err := r.PID(i)
			if err != nil || !yield(i, pid) {
				return
			}
		}
	}
}

// AppsLookupEntry is what a server answers for one PID besides the PID
// itself. For any status other than PIDKnown every field must be unset:
// zeros, empty strings, no labels and UID == UIDUnset (AddStatus writes
// such an item). For a KNOWN process Comm has 1 to 15 bytes, and the
// cgroup fields follow CgroupStatus: KNOWN needs a path and allows
// everything; UNKNOWN_RETRY_LATER allows a path (even empty) only;
// UNKNOWN_PERMANENT needs a path and allows nothing else; HOST_ROOT has no
// path and nothing else.
type AppsLookupEntry struct {
	// Status is the PID outcome.
	Status PIDStatus
	// CgroupStatus is the cgroup outcome (KNOWN items only).
	CgroupStatus CgroupStatus
	// Orchestrator runs the process's cgroup.
	Orchestrator Orchestrator
	// PPID is the parent PID.
	PPID uint32
	// UID is the owner's uid, or UIDUnset.
	UID uint32
	// StartTime is, on Linux, /proc/<pid>/stat field 22 (jiffies since
	// boot); 0 elsewhere.
	StartTime uint64
	// Comm is the process name.
	Comm string
	// CgroupPath is the path of the process's cgroup.
	CgroupPath string
	// CgroupName is the name of the process's cgroup.
	CgroupName string
	// Labels are the cgroup's labels.
	Labels []LookupLabel
}

// AppsLookupItemView is one answered PID of a decoded response. The
// strings are sub-slices of the payload (no copy, no NUL).
type AppsLookupItemView struct {
	// PID is the requested PID, echoed.
	PID uint32
	// Status is the PID outcome.
	Status PIDStatus
	// CgroupStatus is the cgroup outcome (CgroupKnown unless Status is
	// PIDKnown).
	CgroupStatus CgroupStatus
	// Orchestrator runs the process's cgroup (any value).
	Orchestrator Orchestrator
	// PPID is the parent PID.
	PPID uint32
	// UID is the owner's uid, or UIDUnset.
	UID uint32
	// StartTime is the process start time (Linux: jiffies since boot).
	StartTime uint64
	// Comm is the process name.
	Comm []byte
	// CgroupPath is the path of the process's cgroup.
	CgroupPath []byte
	// CgroupName is the name of the process's cgroup.
	CgroupName []byte
	// Labels are the cgroup's labels.
	Labels LookupLabels
}

// appsFields are the numeric fields of an item the semantic rules look
// at, before enum conversion.
type appsFields struct {
	status       PIDStatus
	cgroupStatus CgroupStatus
	orchestrator Orchestrator
	ppid, uid    uint32
	starttime    uint64
	commLen      int
	pathLen      int
	nameLen      int
	labelCount   int
}

// checkAppsLookupSemantics checks the status rules of an item in the
// order of the specification; shared by the decoder and the builder.
// Errors carry the offset of the offending field inside the item.
func checkAppsLookupSemantics(f *appsFields) error {
	bad := func(what string, at int) error { return codecErr(BadLayout, what, at) }
	switch {
	case f.status > PIDOversizedItem:
		return bad("apps lookup item status", 2)
	case f.cgroupStatus > CgroupHostRoot:
		return bad("apps lookup item cgroup_status", 6)
	case f.commLen > CommMaxLen:
		return bad("apps lookup item comm_length (max 15)", 36)
	}
	if f.status != PIDKnown {
		const what = "apps lookup item field set on a non-KNOWN pid"
		switch {
		case f.orchestrator != 0:
			return bad(what, 4)
		case f.cgroupStatus != 0:
			return bad(what, 6)
		case f.ppid != 0:
			return bad(what, 12)
		case f.uid != UIDUnset:
			return bad(what, 16)
		case f.starttime != 0:
			return bad(what, 24)
		case f.commLen != 0:
			return bad(what, 36)
		case f.pathLen != 0:
			return bad(what, 44)
		case f.nameLen != 0:
			return bad(what, 52)
		case f.labelCount != 0:
			return bad(what, 56)
		}
		return nil
	}
	if f.commLen == 0 {
		return bad("apps lookup item comm_length (KNOWN needs a name)", 36)
	}
	const what = "apps lookup item field for its cgroup_status"
	switch f.cgroupStatus {
	case CgroupKnown, CgroupUnknownPermanent:
		if f.pathLen == 0 {
			return bad(what, 44)
		}
	case CgroupHostRoot:
		if f.pathLen != 0 {
			return bad(what, 44)
		}
	}
	if f.cgroupStatus == CgroupKnown {
		return nil
	}
	switch {
	case f.orchestrator != 0:
		return bad(what, 4)
	case f.nameLen != 0:
		return bad(what, 52)
	case f.labelCount != 0:
		return bad(what, 56)
	}
	return nil
}

// decodeAppsLookupItem fully validates one item and returns its view.
func decodeAppsLookupItem(item []byte) (AppsLookupItemView, error) {
	const h = AppsLookupItemHeaderLen
	if len(item) < h {
		return AppsLookupItemView{}, codecErr(Truncated, "apps lookup item", len(item))
	}
	if u16at(item, 0) != 1 {
		return AppsLookupItemView{}, codecErr(BadLayout, "apps lookup item layout_version", 0)
	}
	if u32at(item, 20) != 0 {
		return AppsLookupItemView{}, codecErr(BadLayout, "apps lookup item reserved0", 20)
	}
	if u16at(item, 58) != 0 {
		return AppsLookupItemView{}, codecErr(BadLayout, "apps lookup item reserved1", 58)
	}
	f := appsFields{
		status:       PIDStatus(u16at(item, 2)),
		orchestrator: Orchestrator(u16at(item, 4)),
		cgroupStatus: CgroupStatus(u16at(item, 6)),
		ppid:         u32at(item, 12),
		uid:          u32at(item, 16),
		starttime:    u64at(item, 24),
		commLen:      intAt(item, 36),
		pathLen:      intAt(item, 44),
		nameLen:      intAt(item, 52),
		labelCount:   int(u16at(item, 56)),
	}
	if err := checkAppsLookupSemantics(&f); err != nil {
		return AppsLookupItemView{}, err
	}
	comm, err := lookupItemString(item, h, 32, "apps lookup item comm")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	path, err := lookupItemString(item, h, 40, "apps lookup item cgroup_path")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	name, err := lookupItemString(item, h, 48, "apps lookup item cgroup_name")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	if comm.overlaps(path) {
		return AppsLookupItemView{}, codecErr(BadLayout, "apps lookup item cgroup_path overlaps comm", 40)
	}
	if comm.overlaps(name) || path.overlaps(name) {
		return AppsLookupItemView{}, codecErr(BadLayout, "apps lookup item cgroup_name overlaps another string", 48)
	}
	labels, err := lookupItemLabels(item, h, max(comm.end, path.end, name.end), f.labelCount)
	if err != nil {
		return AppsLookupItemView{}, err
	}
	return AppsLookupItemView{
		PID:          u32at(item, 8),
		Status:       f.status,
		CgroupStatus: f.cgroupStatus,
		Orchestrator: f.orchestrator,
		PPID:         f.ppid,
		UID:          f.uid,
		StartTime:    f.starttime,
		Comm:         comm.bytes,
		CgroupPath:   path.bytes,
		CgroupName:   name.bytes,
		Labels:       labels,
	}, nil
}

func checkAppsLookupItem(item []byte) error {
	_, err := decodeAppsLookupItem(item)
	return err
}

// readAppsLookupItem reads an item the response decode validated,
// checking again only what keeps the read in bounds (a payload changed
// since cannot make it panic).
func readAppsLookupItem(item []byte) (AppsLookupItemView, error) {
	const h = AppsLookupItemHeaderLen
	if len(item) < h {
		return AppsLookupItemView{}, codecErr(Truncated, "apps lookup item", len(item))
	}
	comm, commEnd, err := terminatedString(item, h, 32, "apps lookup item comm")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	path, pathEnd, err := terminatedString(item, h, 40, "apps lookup item cgroup_path")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	name, nameEnd, err := terminatedString(item, h, 48, "apps lookup item cgroup_name")
	if err != nil {
		return AppsLookupItemView{}, err
	}
	return AppsLookupItemView{
		PID:          u32at(item, 8),
		Status:       PIDStatus(u16at(item, 2)),
		CgroupStatus: CgroupStatus(u16at(item, 6)),
		Orchestrator: Orchestrator(u16at(item, 4)),
		PPID:         u32at(item, 12),
		UID:          u32at(item, 16),
		StartTime:    u64at(item, 24),
		Comm:         comm,
		CgroupPath:   path,
		CgroupName:   name,
		Labels:       LookupLabels{item: item, table: alignUp8(max(commEnd, pathEnd, nameEnd)), count: int(u16at(item, 56))},
	}, nil
}

// AppsLookupResponseView is a decoded APPS_LOOKUP response borrowing its
// payload; every item was validated when it was decoded. The zero value
// is a response without items.
type AppsLookupResponseView struct {
	lookupResponse
}

// DecodeAppsLookupResponse validates the header, the ordered directory
// and every item, and returns the response's view. It allocates nothing.
// It fails with the first violated rule and its byte offset in the
// payload.
func DecodeAppsLookupResponse(payload []byte) (AppsLookupResponseView, error) {
	r, err := decodeLookupResponse(payload, AppsLookupItemHeaderLen, checkAppsLookupItem)
	return AppsLookupResponseView{r}, err
}

// Item returns item i. It fails with OutOfBounds for an index out of
// range (or when the payload was changed after decoding).
func (v AppsLookupResponseView) Item(i int) (AppsLookupItemView, error) {
	raw, err := v.RawItem(i)
	if err != nil {
		return AppsLookupItemView{}, err
	}
	return readAppsLookupItem(raw)
}

// Items yields the items in order with their index. It stops early only
// if the payload was changed after decoding and an item no longer reads.
func (v AppsLookupResponseView) Items() iter.Seq2[int, AppsLookupItemView] {
	return lookupItems(v.lookupResponse, readAppsLookupItem)
}

// EncodeAppsLookupRawResponse builds a response from already-encoded
// items (for example the raw items of several sub-responses) and returns
// its length. Every item is fully validated first; items are placed at
// 8-aligned offsets with zeroed gaps. It fails with the first invalid
// item's error, or Overflow when dst is too small.
func EncodeAppsLookupRawResponse(dst []byte, items [][]byte, generation uint64) (int, error) {
	return encodeLookupRawResponse(dst, items, generation, checkAppsLookupItem)
}

// AppsLookupBuilder builds an APPS_LOOKUP response in a caller-owned
// buffer and applies the payload-budget rules of the reference server
// (see CgroupsLookupBuilder; they are the same with 63-byte
// placeholders).
//
// A builder is not safe for concurrent use.
type AppsLookupBuilder struct {
	lookupCore
	req AppsLookupRequestView // the request of DispatchAppsLookup
}

// NewAppsLookupBuilder returns a builder over buf; see Reset.
func NewAppsLookupBuilder(buf []byte, maxItems int, generation uint64) (*AppsLookupBuilder, error) {
	b := new(AppsLookupBuilder)
	if err := b.Reset(buf, maxItems, generation); err != nil {
		return nil, err
	}
	return b, nil
}

// Reset starts a response of at most maxItems items in buf, with no
// placeholder reservation. It fails with Overflow when buf cannot hold the
// header and maxItems directory entries.
func (b *AppsLookupBuilder) Reset(buf []byte, maxItems int, generation uint64) error {
	return b.reset(buf, maxItems, generation)
}

// ResetForRequest starts the response to req in buf: one item per PID,
// with placeholder space reserved for every PID so that a budget
// shortfall becomes a PAYLOAD_EXCEEDED suffix instead of a failure, and
// Finish failing with BadItemCount unless every PID got its item. It
// fails with Overflow when buf cannot hold the header and the directory.
func (b *AppsLookupBuilder) ResetForRequest(buf []byte, req *AppsLookupRequestView, generation uint64) error {
	return b.resetForRequest(buf, req.count, generation, func(int) int { return AppsLookupPlaceholderLen })
}

// AddStatus adds an item with every field unset (PIDUnknown and the
// like) for pid; see Add.
func (b *AppsLookupBuilder) AddStatus(pid uint32, status PIDStatus) error {
	return b.Add(pid, &AppsLookupEntry{Status: status, UID: UIDUnset})
}

// Add adds the item for pid. It fails with BadLayout when the entry
// breaks the status rules (see AppsLookupEntry), a string contains NUL, a
// label key is empty or there are more than 65535 labels; with Overflow
// when every item was added already or even the placeholder does not
// fit. Every error is sticky.
func (b *AppsLookupBuilder) Add(pid uint32, e *AppsLookupEntry) error {
	c := &b.lookupCore
	if c.suffixMode {
		return b.placeholder(pid, PIDPayloadExceeded)
	}
	if err := c.checkRoom(); err != nil {
		return err
	}
	f := appsFields{
		status:       e.Status,
		cgroupStatus: e.CgroupStatus,
		orchestrator: e.Orchestrator,
		ppid:         e.PPID,
		uid:          e.UID,
		starttime:    e.StartTime,
		commLen:      len(e.Comm),
		pathLen:      len(e.CgroupPath),
		nameLen:      len(e.CgroupName),
		labelCount:   len(e.Labels),
	}
	if err := checkAppsLookupSemantics(&f); err != nil {
		return c.fail(err)
	}
	if err := checkLookupStrings([]string{e.Comm, e.CgroupPath, e.CgroupName}, e.Labels, 56); err != nil {
		return c.fail(err)
	}
	l := computeLookupLayout(AppsLookupItemHeaderLen, []int{len(e.Comm), len(e.CgroupPath), len(e.CgroupName)}, e.Labels)
	switch {
	case l.ok && c.fits(l.size, AppsLookupPlaceholderLen):
		start, item, err := c.slot(l.size)
		if err != nil {
			return err
		}
		writeAppsLookupItem(item, &l, pid, e)
		c.commit(start, l.size, AppsLookupPlaceholderLen)
		return nil
	case c.count == 0:
		c.oversized = true
		return b.placeholder(pid, PIDOversizedItem)
	default:
		c.suffixMode = true
		return b.placeholder(pid, PIDPayloadExceeded)
	}
}

func (b *AppsLookupBuilder) placeholder(pid uint32, status PIDStatus) error {
	c := &b.lookupCore
	if err := c.checkRoom(); err != nil {
		return err
	}
	l := computeLookupLayout(AppsLookupItemHeaderLen, []int{0, 0, 0}, nil)
	start, item, err := c.slot(l.size)
	if err != nil {
		return err
	}
	writeAppsLookupItem(item, &l, pid, &AppsLookupEntry{Status: status, UID: UIDUnset})
	c.commit(start, l.size, AppsLookupPlaceholderLen)
	return nil
}

// writeAppsLookupItem writes a whole item laid out by l.
func writeAppsLookupItem(item []byte, l *lookupLayout, pid uint32, e *AppsLookupEntry) {
	// Offsets and lengths are below the item size, which fits a u32; the
	// label count was checked against u16.
	setU16(item, 0, 1)
	setU16(item, 2, uint16(e.Status))
	setU16(item, 4, uint16(e.Orchestrator))
	setU16(item, 6, uint16(e.CgroupStatus))
	setU32(item, 8, pid)
	setU32(item, 12, e.PPID)
	setU32(item, 16, e.UID)
	setU32(item, 20, 0)
	setU64(item, 24, e.StartTime)
	putItemString(item, 32, l.offsets[0], e.Comm)
	putItemString(item, 40, l.offsets[1], e.CgroupPath)
	putItemString(item, 48, l.offsets[2], e.CgroupName)
	setU16(item, 56, uint16(len(e.Labels)))
	setU16(item, 58, 0)
	l.writeLabels(item, e.Labels)
}

// DispatchAppsLookup answers one APPS_LOOKUP request on the server side:
// it decodes request, resets b over response for it (ResetForRequest,
// generation 0 until the handler sets it), lets handler add one item per
// PID, and returns the response length. The request view handed to
// handler lives in b. After the call b tells whether the budget converted
// items (BudgetConverted).
//
// It fails with a *DispatchError, as DispatchCgroupsLookup does.
func DispatchAppsLookup(b *AppsLookupBuilder, request, response []byte,
	handler func(*AppsLookupRequestView, *AppsLookupBuilder) bool) (int, error) {
	req, err := DecodeAppsLookupRequest(request)
	if err != nil {
		return 0, &DispatchError{Stage: DispatchBadRequest, Err: err}
	}
	b.req = req
	if err := b.ResetForRequest(response, &b.req, 0); err != nil {
		return 0, &DispatchError{Stage: DispatchBuilder, Err: err}
	}
	ok := handler(&b.req, b)
	if err := dispatchCheck(ok, b.Err()); err != nil {
		return 0, err
	}
	n, err := b.Finish()
	if err != nil {
		return 0, &DispatchError{Stage: DispatchBuilder, Err: err}
	}
	return n, nil
}
