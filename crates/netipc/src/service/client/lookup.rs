//! Logical lookups (level2 spec section 9): one call with any number of
//! keys becomes as many sub-calls as the negotiated request size needs;
//! answers are checked against their keys, a `PAYLOAD_EXCEEDED` suffix is
//! asked again, and the items are stitched into one response with one
//! generation.
//!
//! How many keys a sub-call carries is chosen by [`next_count`]. The
//! result: every exchange carries as many keys as the request size takes,
//! or leaves at least half of the response size `S` to answers, or asks
//! alone a key whose answer is larger than that, or is one of the
//! overflows that make a growable provider grow (a handful per provider,
//! as its size is shared by all sessions and only grows). A call of `Q`
//! request bytes at request size `R` with `A` answer bytes thus takes
//! about `Q/R + 2·A/S` exchanges at most, plus two per answer larger than
//! `S/2`: never two per key. Against a provider whose request size is fixed
//! at 1 KiB (the reference defaults), keys of ~50 bytes travel ~18 per
//! exchange, so 32,768 such keys take ~1,800-3,000 exchanges; much longer
//! keys at that count need `max_lookup_subcalls` raised above its 4,096.

use std::time::{Duration, Instant};

use super::core::{ClientCore, Deadline, Payload};
use super::{AppsLookup, CgroupsLookup, Client};
use crate::bytes::align8;
use crate::codec::lookup::raw::{self, Checked};
use crate::codec::{
    APPS_LOOKUP_PLACEHOLDER_LEN, AppsLookupView, CgroupsLookupBuilder, CgroupsLookupStatus,
    CgroupsLookupView, LOOKUP_HEADER_LEN, PidStatus, apps_lookup_request_len,
    cgroups_lookup_placeholder_len, cgroups_lookup_request_len, cgroups_lookup_single_request_len,
    encode_apps_lookup_request, encode_cgroups_lookup_request,
};
use crate::error::{Error, Result};
use crate::service::ClientState;
use crate::wire::DIR_ENTRY_LEN;

/// Client-owned space for stitching: copied items and the final response.
#[derive(Debug, Default)]
pub(crate) struct LookupScratch {
    items: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    out: Vec<u8>,
    /// End of the packed items of the stitched response, relative to the
    /// packed area (8-aligned starts, as the encoder lays them out).
    packed: usize,
    /// The response size at which the provider could not place a
    /// sub-response's answers and did not grow: kept across calls, so
    /// that only the first lookup finds it out.
    fixed_response: Option<u32>,
}

impl LookupScratch {
    fn clear(&mut self) {
        self.items.clear();
        self.ranges.clear();
        self.packed = 0;
    }

    /// Copies `item` unless that makes the stitched response longer than
    /// `limit` bytes; the copies never take more than `limit` bytes either.
    ///
    /// # Errors
    /// `LookupLimit("max_lookup_response_bytes")`.
    fn push(&mut self, item: &[u8], limit: usize) -> Result<()> {
        let packed = align8(self.packed) + item.len();
        if LOOKUP_HEADER_LEN + (self.ranges.len() + 1) * DIR_ENTRY_LEN + packed > limit {
            return Err(Error::LookupLimit("max_lookup_response_bytes"));
        }
        let start = self.items.len();
        let end = start + item.len();
        if self.items.capacity() < end {
            let target = self
                .items
                .capacity()
                .saturating_mul(2)
                .clamp(end, limit.max(end));
            self.items.reserve_exact(target - start);
        }
        self.items.extend_from_slice(item);
        self.ranges.push((start, end));
        self.packed = packed;
        Ok(())
    }

    fn stitched_len(&self) -> usize {
        // The packed area starts 8-aligned: header and entries are
        // multiples of 8 bytes.
        LOOKUP_HEADER_LEN + self.ranges.len() * DIR_ENTRY_LEN + self.packed
    }

    fn item_slices(&self) -> impl ExactSizeIterator<Item = &[u8]> + Clone {
        self.ranges.iter().map(|&(a, b)| &self.items[a..b])
    }
}

/// How one item of a sub-response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A final answer (including a server-made `OVERSIZED_ITEM` for a key
    /// sent alone).
    Answered,
    /// `PAYLOAD_EXCEEDED`: ask again.
    Exceeded,
    /// `OVERSIZED_ITEM`.
    Oversized,
}

/// What differs between the two lookup methods.
trait Spec {
    type Key;
    type View<'a>;
    /// Most keys from `keys` whose request fits `capacity` bytes.
    fn fit(keys: &[Self::Key], capacity: usize) -> usize;
    /// Most keys from `keys` whose minimal answers (the placeholders a
    /// server's budget rules fall back to) fit `capacity` response bytes.
    fn fit_answers(keys: &[Self::Key], capacity: usize) -> usize;
    /// Size of a request carrying all of `keys` (`usize::MAX` if it
    /// cannot be encoded).
    fn request_len(keys: &[Self::Key]) -> usize;
    /// Size of a request carrying just `key`.
    fn one_key_len(key: &Self::Key) -> usize;
    /// A client-made `OVERSIZED_ITEM` for a key that can never be sent, if
    /// the method has one.
    fn oversized(key: &Self::Key) -> Option<Vec<u8>>;
    fn encode(keys: &[Self::Key], out: &mut Vec<u8>) -> Result<usize>;
    fn decode(payload: &[u8]) -> Result<Self::View<'_>>;
    fn len(view: &Self::View<'_>) -> usize;
    fn generation(view: &Self::View<'_>) -> u64;
    /// Item `i`'s outcome; `BadResponse` if it does not echo `key`.
    fn outcome(view: &Self::View<'_>, i: usize, key: &Self::Key) -> Result<Outcome>;
    fn raw_item<'v>(view: &'v Self::View<'_>, i: usize) -> &'v [u8];
    /// What the decode of `view` found (see [`Checked`]).
    fn checked(view: &Self::View<'_>) -> Checked;
    /// Encodes the stitched response from raw items of decoded responses
    /// (not validated again).
    fn encode_raw<'i>(
        items: impl ExactSizeIterator<Item = &'i [u8]> + Clone,
        generation: u64,
        out: &mut [u8],
    ) -> Result<(usize, Checked)>;
}

/// What one sub-response settled.
enum Taken {
    /// The first `n` keys got final answers (the rest are asked again).
    Answered(usize),
    /// Every key of the call, in this one sub-response: it is the result
    /// as it is (validated as `Checked`).
    Whole(Checked),
    /// The first key came back `OVERSIZED_ITEM` only because the budget
    /// also had to hold the other keys' placeholders: ask it alone.
    FirstAlone,
}

/// Checks one sub-response against `keys` (one item per key, each echoing
/// its key, a `PAYLOAD_EXCEEDED` suffix only) and copies the final items.
///
/// `whole`: this sub-response is the first and covers every key of the
/// call; if it answers them all, it is the result as it is
/// ([`Taken::Whole`]) and nothing is copied.
fn take<S: Spec>(
    payload: &[u8],
    keys: &[S::Key],
    scratch: &mut LookupScratch,
    whole: bool,
    limit: usize,
) -> Result<(u64, Taken)> {
    let view = S::decode(payload)?;
    if S::len(&view) != keys.len() {
        return Err(Error::BadResponse(
            "the sub-response has another item count",
        ));
    }
    let mut answered = keys.len();
    for (i, key) in keys.iter().enumerate() {
        match S::outcome(&view, i, key)? {
            Outcome::Exceeded if i == 0 => return Err(Error::CapacityExhausted),
            Outcome::Exceeded => answered = answered.min(i),
            _ if answered < keys.len() => {
                return Err(Error::BadResponse(
                    "an item follows a PAYLOAD_EXCEEDED item",
                ));
            }
            Outcome::Oversized if i == 0 && keys.len() > 1 => {
                return Ok((S::generation(&view), Taken::FirstAlone));
            }
            Outcome::Answered | Outcome::Oversized => {}
        }
    }
    if whole && answered == keys.len() {
        return Ok((S::generation(&view), Taken::Whole(S::checked(&view))));
    }
    for i in 0..answered {
        scratch.push(S::raw_item(&view, i), limit)?;
    }
    Ok((S::generation(&view), Taken::Answered(answered)))
}

/// Encodes the stitched response into `scratch.out`; returns its length
/// and what its view needs.
fn stitch<S: Spec>(scratch: &mut LookupScratch, generation: u64) -> Result<(usize, Checked)> {
    let mut out = std::mem::take(&mut scratch.out);
    out.resize(scratch.stitched_len(), 0);
    let n = S::encode_raw(scratch.item_slices(), generation, &mut out);
    scratch.out = out;
    n
}

struct Cgroups<'p, P>(std::marker::PhantomData<&'p P>);

impl<P: AsRef<[u8]>> Spec for Cgroups<'_, P> {
    type Key = P;
    type View<'a> = CgroupsLookupView<'a>;

    fn fit(keys: &[P], capacity: usize) -> usize {
        // The directory grows with k, so count down from the longest prefix
        // whose strings alone fit.
        let mut k = 0;
        let mut strings = 0usize;
        for key in keys {
            let next = align8(strings) + key.as_ref().len() + 1;
            if LOOKUP_HEADER_LEN + (k + 1) * DIR_ENTRY_LEN + next > capacity {
                break;
            }
            strings = next;
            k += 1;
        }
        k
    }

    fn fit_answers(keys: &[P], capacity: usize) -> usize {
        let mut end = LOOKUP_HEADER_LEN;
        let mut k = 0;
        for key in keys {
            end += DIR_ENTRY_LEN + align8(cgroups_lookup_placeholder_len(key.as_ref().len()));
            if end > capacity {
                break;
            }
            k += 1;
        }
        k
    }

    fn request_len(keys: &[P]) -> usize {
        cgroups_lookup_request_len(keys).unwrap_or(usize::MAX)
    }

    fn one_key_len(key: &P) -> usize {
        cgroups_lookup_single_request_len(key.as_ref().len())
    }

    fn oversized(key: &P) -> Option<Vec<u8>> {
        let path = key.as_ref();
        let mut buf = vec![0u8; LOOKUP_HEADER_LEN + DIR_ENTRY_LEN + 32 + path.len()];
        let mut builder = CgroupsLookupBuilder::new(&mut buf, 1, 0).ok()?;
        builder
            .add_status(path, CgroupsLookupStatus::OversizedItem)
            .ok()?;
        let n = builder.finish();
        let view = CgroupsLookupView::decode(&buf[..n]).ok()?;
        view.raw_item(0).map(<[u8]>::to_vec)
    }

    fn encode(keys: &[P], out: &mut Vec<u8>) -> Result<usize> {
        let len = cgroups_lookup_request_len(keys).ok_or(Error::CapacityExhausted)?;
        out.resize(len, 0);
        Ok(encode_cgroups_lookup_request(keys, out)?)
    }

    fn decode(payload: &[u8]) -> Result<CgroupsLookupView<'_>> {
        Ok(CgroupsLookupView::decode(payload)?)
    }

    fn len(view: &CgroupsLookupView<'_>) -> usize {
        view.len()
    }

    fn generation(view: &CgroupsLookupView<'_>) -> u64 {
        view.generation()
    }

    fn outcome(view: &CgroupsLookupView<'_>, i: usize, key: &P) -> Result<Outcome> {
        let item = view
            .item(i)
            .filter(|item| item.path == key.as_ref())
            .ok_or(Error::BadResponse("an item does not echo its path"))?;
        Ok(match item.status {
            CgroupsLookupStatus::PayloadExceeded => Outcome::Exceeded,
            CgroupsLookupStatus::OversizedItem => Outcome::Oversized,
            _ => Outcome::Answered,
        })
    }

    fn raw_item<'v>(view: &'v CgroupsLookupView<'_>, i: usize) -> &'v [u8] {
        view.raw_item(i).unwrap_or_default()
    }

    fn checked(view: &CgroupsLookupView<'_>) -> Checked {
        view.checked()
    }

    fn encode_raw<'i>(
        items: impl ExactSizeIterator<Item = &'i [u8]> + Clone,
        generation: u64,
        out: &mut [u8],
    ) -> Result<(usize, Checked)> {
        Ok(raw::encode_checked(items, generation, out)?)
    }
}

struct Apps;

impl Spec for Apps {
    type Key = u32;
    type View<'a> = AppsLookupView<'a>;

    fn fit(keys: &[u32], capacity: usize) -> usize {
        let per_key = DIR_ENTRY_LEN + crate::codec::APPS_LOOKUP_KEY_LEN;
        keys.len()
            .min(capacity.saturating_sub(LOOKUP_HEADER_LEN) / per_key)
    }

    fn fit_answers(keys: &[u32], capacity: usize) -> usize {
        let per_key = DIR_ENTRY_LEN + align8(APPS_LOOKUP_PLACEHOLDER_LEN);
        keys.len()
            .min(capacity.saturating_sub(LOOKUP_HEADER_LEN) / per_key)
    }

    fn request_len(keys: &[u32]) -> usize {
        apps_lookup_request_len(keys.len())
    }

    fn one_key_len(_: &u32) -> usize {
        apps_lookup_request_len(1)
    }

    fn oversized(_: &u32) -> Option<Vec<u8>> {
        None
    }

    fn encode(keys: &[u32], out: &mut Vec<u8>) -> Result<usize> {
        out.resize(apps_lookup_request_len(keys.len()), 0);
        Ok(encode_apps_lookup_request(keys, out)?)
    }

    fn decode(payload: &[u8]) -> Result<AppsLookupView<'_>> {
        Ok(AppsLookupView::decode(payload)?)
    }

    fn len(view: &AppsLookupView<'_>) -> usize {
        view.len()
    }

    fn generation(view: &AppsLookupView<'_>) -> u64 {
        view.generation()
    }

    fn outcome(view: &AppsLookupView<'_>, i: usize, pid: &u32) -> Result<Outcome> {
        let item = view
            .item(i)
            .filter(|item| item.pid == *pid)
            .ok_or(Error::BadResponse("an item does not echo its pid"))?;
        Ok(match item.entry.status {
            PidStatus::PayloadExceeded => Outcome::Exceeded,
            PidStatus::OversizedItem => Outcome::Oversized,
            _ => Outcome::Answered,
        })
    }

    fn raw_item<'v>(view: &'v AppsLookupView<'_>, i: usize) -> &'v [u8] {
        view.raw_item(i).unwrap_or_default()
    }

    fn checked(view: &AppsLookupView<'_>) -> Checked {
        view.checked()
    }

    fn encode_raw<'i>(
        items: impl ExactSizeIterator<Item = &'i [u8]> + Clone,
        generation: u64,
        out: &mut [u8],
    ) -> Result<(usize, Checked)> {
        Ok(raw::encode_checked(items, generation, out)?)
    }
}

/// An error, and whether the core already counted it.
struct Failed(Error, bool);

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed(e, false)
    }
}

/// Runs a logical lookup; on success the stitched response is in
/// `scratch.out` and its length is returned.
fn run<S: Spec>(
    core: &mut ClientCore,
    request: &mut Vec<u8>,
    scratch: &mut LookupScratch,
    keys: &[S::Key],
    timeout: Duration,
) -> Result<Done> {
    let settings = *core.settings();
    if keys.len() > settings.max_lookup_items as usize {
        core.count_error();
        return Err(Error::LookupLimit("max_lookup_items"));
    }
    if core.state() != ClientState::Ready {
        core.count_error();
        return Err(core.not_ready());
    }
    let deadline = super::core::deadline_after(timeout);
    match lookup_loop::<S>(core, request, scratch, keys, deadline) {
        Ok(done) => Ok(done),
        Err(Failed(e, counted)) => {
            if !counted {
                core.count_error();
            }
            Err(super::core::with_limit(e, deadline.limit))
        }
    }
}

/// Where a finished lookup's answer is, validated (see [`Checked`]).
enum Done {
    /// Stitched into `scratch.out`, this many bytes.
    Stitched(usize, Checked),
    /// The last response answers every key as it is.
    Direct(Checked),
}

/// How many keys from the start of `rest` the next sub-call carries.
///
/// Every real answer takes at least the bytes of its placeholder, so the
/// placeholders of the keys sent bound what the provider must place:
///
/// - When the placeholders of the keys that fit the request overflow the
///   response size `S`, and the provider may still grow, they are all
///   sent (as reference clients do): a provider that cannot place them
///   answers `LIMIT_EXCEEDED` and grows its response size, and the call
///   goes on at the larger size. The placeholders never take more than
///   half the largest response this client accepts.
/// - Otherwise the placeholders take at most half of `S`, so every
///   exchange leaves at least `S/2` bytes to the answers and only an
///   answer larger than that is asked alone.
fn next_count<S: Spec>(
    rest: &[S::Key],
    request_fit: usize,
    response: u32,
    ceiling: u32,
    fixed: Option<u32>,
) -> usize {
    let may_grow = response < ceiling && fixed.is_none_or(|f| response > f);
    let growing = request_fit.min(S::fit_answers(rest, ceiling as usize / 2));
    if may_grow && growing > S::fit_answers(rest, response as usize) {
        return growing;
    }
    request_fit.min(S::fit_answers(rest, response as usize / 2).max(1))
}

fn lookup_loop<S: Spec>(
    core: &mut ClientCore,
    request: &mut Vec<u8>,
    scratch: &mut LookupScratch,
    keys: &[S::Key],
    deadline: Deadline,
) -> Result<Done, Failed> {
    let settings = *core.settings();
    scratch.clear();
    let mut generation = None;
    let mut subcalls = 0u32;
    let mut start = 0;
    let mut alone = false;
    let mut grown = false;
    while start < keys.len() || generation.is_none() {
        if core.abort_handle().is_aborted() {
            return Err(Error::Aborted.into());
        }
        let rest = &keys[start..];
        let mut k = S::fit(rest, core.request_capacity() as usize);
        if k < rest.len() && k > 0 && !grown {
            // Ask once per call for a request size that takes every
            // remaining key: one reconnect now saves an exchange per
            // request-full of keys, in this call and every later one.
            grown = true;
            let needed = S::request_len(rest).min(core.request_ceiling() as usize);
            let needed32 = u32::try_from(needed).unwrap_or(u32::MAX);
            if needed > core.request_capacity() as usize && core.may_propose(needed32) {
                core.renegotiate_request(needed32, deadline.at);
                if core.state() != ClientState::Ready {
                    return Err(core.not_ready().into());
                }
                k = S::fit(rest, core.request_capacity() as usize);
            }
        }
        let response = core.response_capacity();
        let k = if alone {
            k.min(1)
        } else if k == 0 {
            0
        } else {
            next_count::<S>(
                rest,
                k,
                response,
                settings.response_ceiling,
                scratch.fixed_response,
            )
        };
        if k == 0 && start < keys.len() {
            let needed = S::one_key_len(&keys[start]);
            if needed <= core.request_ceiling() as usize {
                if !core.renegotiate_request(u32::try_from(needed).unwrap_or(u32::MAX), deadline.at)
                {
                    core.mark_broken();
                    return Err(Error::CapacityExhausted.into());
                }
                continue;
            }
            let Some(item) = S::oversized(&keys[start]) else {
                return Err(Error::CapacityExhausted.into());
            };
            scratch.push(&item, settings.max_lookup_response_bytes as usize)?;
            start += 1;
            continue;
        }
        let n = S::encode(&keys[start..start + k], request)?;
        subcalls += 1;
        if subcalls > settings.max_lookup_subcalls {
            return Err(Error::LookupLimit("max_lookup_subcalls").into());
        }
        if deadline.at <= Instant::now() {
            return Err(Error::Timeout { limit: None }.into());
        }
        match core.call(Payload::Single(&request[..n]), deadline, &|_| Ok(())) {
            Ok(()) => {}
            // The provider could not place the answers (or closed the
            // connection instead of saying so) and the call's own
            // recovery did not get it to grow far enough: go on at the
            // size the provider now has, or, if it did not grow at all,
            // remember that it does not and leave room for the answers.
            Err(e @ (Error::CapacityExhausted | Error::Disconnected))
                if scratch.fixed_response.is_none_or(|f| response > f) =>
            {
                if core.connect(deadline.at).is_err() {
                    return Err(Failed(e, true));
                }
                if core.response_capacity() <= response {
                    if matches!(e, Error::Disconnected) {
                        return Err(Failed(e, true));
                    }
                    scratch.fixed_response = Some(core.response_capacity());
                }
                continue;
            }
            Err(e) => return Err(Failed(e, true)),
        }
        let payload = core
            .response()
            .map(|m| m.payload)
            .ok_or(Error::Disconnected)?;
        // One exchange that answers every key needs no stitching.
        let whole = start == 0 && k == keys.len();
        let (g, taken) = take::<S>(
            payload,
            &keys[start..start + k],
            scratch,
            whole,
            settings.max_lookup_response_bytes as usize,
        )?;
        if generation.is_some_and(|known| known != g) {
            return Err(Error::BadResponse("the generation changed between sub-responses").into());
        }
        generation = Some(g);
        match taken {
            Taken::Whole(checked) => {
                if payload.len() > settings.max_lookup_response_bytes as usize {
                    return Err(Error::LookupLimit("max_lookup_response_bytes").into());
                }
                return Ok(Done::Direct(checked));
            }
            Taken::Answered(answered) => {
                start += answered;
                alone = false;
            }
            Taken::FirstAlone => alone = true,
        }
    }
    if scratch.stitched_len() > settings.max_lookup_response_bytes as usize {
        return Err(Error::LookupLimit("max_lookup_response_bytes").into());
    }
    let (n, checked) = stitch::<S>(scratch, generation.unwrap_or(0))?;
    Ok(Done::Stitched(n, checked))
}

impl<K: super::ServiceKind> Client<K> {
    /// The bytes of a finished lookup's answer, and what their view
    /// needs.
    fn answer(&self, done: Done) -> Result<(&[u8], Checked)> {
        match done {
            Done::Stitched(n, checked) => Ok((&self.lookup.out[..n], checked)),
            Done::Direct(checked) => self
                .core
                .response()
                .map(|m| (m.payload, checked))
                .ok_or(Error::Disconnected),
        }
    }
}

impl Client<CgroupsLookup> {
    /// Looks up `paths` with the default timeout.
    ///
    /// # Errors
    /// See [`call_with_timeout`](Self::call_with_timeout).
    pub fn call<P: AsRef<[u8]>>(&mut self, paths: &[P]) -> Result<CgroupsLookupView<'_>> {
        self.call_with_timeout(paths, None)
    }

    /// Looks up `paths` (in order; zero paths is a generation probe). The
    /// answer has exactly one item per path, in the same order, all from
    /// one provider generation; `PayloadExceeded` never appears in it, and
    /// `OversizedItem` marks a path too large to ever be answered. The
    /// timeout covers the whole logical call; `None` is the client's
    /// [`call_timeout`](Client::call_timeout).
    ///
    /// # Errors
    /// `ZeroTimeout` for `Some(Duration::ZERO)` (nothing is sent),
    /// `LookupLimit` (too many paths, sub-calls or bytes for the config),
    /// `NotReady`, `Aborted`, `Timeout`, `BadResponse` (an answer that does
    /// not match its path, a mixed generation), `CapacityExhausted`,
    /// `Codec` (an empty path or one containing NUL, a malformed
    /// response), and the errors of any call.
    pub fn call_with_timeout<P: AsRef<[u8]>>(
        &mut self,
        paths: &[P],
        timeout: Option<Duration>,
    ) -> Result<CgroupsLookupView<'_>> {
        let timeout = self.timeout(timeout, "CgroupsLookupClient::call_with_timeout")?;
        let done = run::<Cgroups<'_, P>>(
            &mut self.core,
            &mut self.request,
            &mut self.lookup,
            paths,
            timeout,
        )?;
        let (payload, checked) = self.answer(done)?;
        Ok(CgroupsLookupView::from_checked(payload, checked))
    }
}

impl Client<AppsLookup> {
    /// Looks up `pids` with the default timeout.
    ///
    /// # Errors
    /// See [`call_with_timeout`](Self::call_with_timeout).
    pub fn call(&mut self, pids: &[u32]) -> Result<AppsLookupView<'_>> {
        self.call_with_timeout(pids, None)
    }

    /// Looks up `pids` (in order; zero pids is a generation probe). The
    /// answer has exactly one item per pid, in the same order, all from one
    /// provider generation, and never `PayloadExceeded`. The timeout covers
    /// the whole logical call; `None` is the client's
    /// [`call_timeout`](Client::call_timeout).
    ///
    /// # Errors
    /// As for [`CgroupsLookupClient::call_with_timeout`](super::CgroupsLookupClient).
    pub fn call_with_timeout(
        &mut self,
        pids: &[u32],
        timeout: Option<Duration>,
    ) -> Result<AppsLookupView<'_>> {
        let timeout = self.timeout(timeout, "AppsLookupClient::call_with_timeout")?;
        let done = run::<Apps>(
            &mut self.core,
            &mut self.request,
            &mut self.lookup,
            pids,
            timeout,
        )?;
        let (payload, checked) = self.answer(done)?;
        Ok(AppsLookupView::from_checked(payload, checked))
    }
}
