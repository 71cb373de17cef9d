//! Logical lookups (level2 spec section 9): one call with any number of
//! keys becomes as many sub-calls as the negotiated request size needs;
//! answers are checked against their keys, a `PAYLOAD_EXCEEDED` suffix is
//! asked again, and the items are stitched into one response with one
//! generation.

use std::time::{Duration, Instant};

use super::core::{ClientCore, Payload};
use super::{AppsLookup, CgroupsLookup, Client};
use crate::bytes::align8;
use crate::codec::{
    AppsLookupView, CgroupsLookupBuilder, CgroupsLookupStatus, CgroupsLookupView,
    LOOKUP_HEADER_LEN, PidStatus, apps_lookup_request_len, cgroups_lookup_request_len,
    cgroups_lookup_single_request_len, encode_apps_lookup_raw_response, encode_apps_lookup_request,
    encode_cgroups_lookup_raw_response, encode_cgroups_lookup_request,
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
}

impl LookupScratch {
    fn clear(&mut self) {
        self.items.clear();
        self.ranges.clear();
    }

    fn push(&mut self, item: &[u8]) {
        let start = self.items.len();
        self.items.extend_from_slice(item);
        self.ranges.push((start, self.items.len()));
    }

    fn stitched_len(&self) -> usize {
        let mut end = LOOKUP_HEADER_LEN + self.ranges.len() * DIR_ENTRY_LEN;
        for (a, b) in &self.ranges {
            end = align8(end) + (b - a);
        }
        end
    }

    fn item_slices(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.ranges.iter().map(|&(a, b)| &self.items[a..b])
    }
}

/// What differs between the two lookup methods.
trait Spec {
    type Key;
    /// Most keys from `keys` whose request fits `capacity` bytes.
    fn fit(keys: &[Self::Key], capacity: usize) -> usize;
    /// Size of a request carrying just `key`.
    fn one_key_len(key: &Self::Key) -> usize;
    /// A client-made `OVERSIZED_ITEM` for a key that can never be sent, if
    /// the method has one.
    fn oversized(key: &Self::Key) -> Option<Vec<u8>>;
    fn encode(keys: &[Self::Key], out: &mut Vec<u8>) -> Result<usize>;
    /// Checks one sub-response against `keys` (one item per key, each
    /// echoing its key, a `PAYLOAD_EXCEEDED` suffix only) and copies the
    /// final items; returns (generation, answered keys).
    fn take(
        payload: &[u8],
        keys: &[Self::Key],
        scratch: &mut LookupScratch,
    ) -> Result<(u64, usize)>;
    fn stitch(scratch: &mut LookupScratch, generation: u64) -> Result<usize>;
}

/// Checks that `statuses` (item i is `PAYLOAD_EXCEEDED` or not) forms a
/// suffix and returns where it starts (`len` without one).
fn suffix_start(len: usize, exceeded: impl Fn(usize) -> bool) -> Result<usize> {
    let start = (0..len).find(|&i| exceeded(i)).unwrap_or(len);
    if (start..len).any(|i| !exceeded(i)) {
        return Err(Error::BadResponse(
            "an item follows a PAYLOAD_EXCEEDED item",
        ));
    }
    if start == 0 && len > 0 {
        return Err(Error::CapacityExhausted);
    }
    Ok(start)
}

struct Cgroups<'p, P>(std::marker::PhantomData<&'p P>);

impl<P: AsRef<[u8]>> Spec for Cgroups<'_, P> {
    type Key = P;

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

    fn take(payload: &[u8], keys: &[P], scratch: &mut LookupScratch) -> Result<(u64, usize)> {
        let view = CgroupsLookupView::decode(payload)?;
        if view.len() != keys.len() {
            return Err(Error::BadResponse(
                "the sub-response has another item count",
            ));
        }
        for (item, key) in view.iter().zip(keys) {
            if item.path != key.as_ref() {
                return Err(Error::BadResponse("an item does not echo its path"));
            }
        }
        let exceeded = |i: usize| {
            view.item(i)
                .is_some_and(|it| it.status == CgroupsLookupStatus::PayloadExceeded)
        };
        let answered = suffix_start(keys.len(), exceeded)?;
        for i in 0..answered {
            scratch.push(view.raw_item(i).unwrap_or_default());
        }
        Ok((view.generation(), answered))
    }

    fn stitch(scratch: &mut LookupScratch, generation: u64) -> Result<usize> {
        let mut out = std::mem::take(&mut scratch.out);
        out.resize(scratch.stitched_len(), 0);
        let n = encode_cgroups_lookup_raw_response(scratch.item_slices(), generation, &mut out);
        scratch.out = out;
        Ok(n?)
    }
}

struct Apps;

impl Spec for Apps {
    type Key = u32;

    fn fit(keys: &[u32], capacity: usize) -> usize {
        let per_key = DIR_ENTRY_LEN + crate::codec::APPS_LOOKUP_KEY_LEN;
        keys.len()
            .min(capacity.saturating_sub(LOOKUP_HEADER_LEN) / per_key)
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

    fn take(payload: &[u8], keys: &[u32], scratch: &mut LookupScratch) -> Result<(u64, usize)> {
        let view = AppsLookupView::decode(payload)?;
        if view.len() != keys.len() {
            return Err(Error::BadResponse(
                "the sub-response has another item count",
            ));
        }
        if view.iter().zip(keys).any(|(item, &pid)| item.pid != pid) {
            return Err(Error::BadResponse("an item does not echo its pid"));
        }
        let exceeded = |i: usize| {
            view.item(i)
                .is_some_and(|it| it.entry.status == PidStatus::PayloadExceeded)
        };
        let answered = suffix_start(keys.len(), exceeded)?;
        for i in 0..answered {
            scratch.push(view.raw_item(i).unwrap_or_default());
        }
        Ok((view.generation(), answered))
    }

    fn stitch(scratch: &mut LookupScratch, generation: u64) -> Result<usize> {
        let mut out = std::mem::take(&mut scratch.out);
        out.resize(scratch.stitched_len(), 0);
        let n = encode_apps_lookup_raw_response(scratch.item_slices(), generation, &mut out);
        scratch.out = out;
        Ok(n?)
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
) -> Result<usize> {
    let settings = *core.settings();
    if keys.len() > settings.max_lookup_items as usize {
        core.count_error();
        return Err(Error::LookupLimit("max_lookup_items"));
    }
    if core.state() != ClientState::Ready {
        core.count_error();
        return Err(Error::NotReady {
            state: core.state(),
        });
    }
    match lookup_loop::<S>(core, request, scratch, keys, Instant::now() + timeout) {
        Ok(n) => Ok(n),
        Err(Failed(e, counted)) => {
            if !counted {
                core.count_error();
            }
            Err(e)
        }
    }
}

fn lookup_loop<S: Spec>(
    core: &mut ClientCore,
    request: &mut Vec<u8>,
    scratch: &mut LookupScratch,
    keys: &[S::Key],
    deadline: Instant,
) -> Result<usize, Failed> {
    let settings = *core.settings();
    scratch.clear();
    let mut generation = None;
    let mut subcalls = 0u32;
    let mut start = 0;
    while start < keys.len() || generation.is_none() {
        if core.abort_handle().is_aborted() {
            return Err(Error::Aborted.into());
        }
        let capacity = core.request_capacity() as usize;
        let k = S::fit(&keys[start..], capacity);
        if k == 0 && start < keys.len() {
            let needed = S::one_key_len(&keys[start]);
            if needed <= core.request_ceiling() as usize {
                if !core.renegotiate_request(u32::try_from(needed).unwrap_or(u32::MAX)) {
                    core.mark_broken();
                    return Err(Error::CapacityExhausted.into());
                }
                continue;
            }
            let Some(item) = S::oversized(&keys[start]) else {
                return Err(Error::CapacityExhausted.into());
            };
            scratch.push(&item);
            start += 1;
            continue;
        }
        let n = S::encode(&keys[start..start + k], request)?;
        subcalls += 1;
        if subcalls > settings.max_lookup_subcalls {
            return Err(Error::LookupLimit("max_lookup_subcalls").into());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout.into());
        }
        let left = left.max(Duration::from_millis(1));
        core.call(Payload::Single(&request[..n]), left, &|_| Ok(()))
            .map_err(|e| Failed(e, true))?;
        let payload = core
            .response()
            .map(|m| m.payload)
            .ok_or(Error::Disconnected)?;
        let (g, answered) = S::take(payload, &keys[start..start + k], scratch)?;
        if generation.is_some_and(|known| known != g) {
            return Err(Error::BadResponse("the generation changed between sub-responses").into());
        }
        generation = Some(g);
        start += answered;
    }
    if scratch.stitched_len() > settings.max_lookup_response_bytes as usize {
        return Err(Error::LookupLimit("max_lookup_response_bytes").into());
    }
    Ok(S::stitch(scratch, generation.unwrap_or(0))?)
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
    /// timeout covers the whole logical call.
    ///
    /// # Errors
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
        let timeout = self.timeout(timeout);
        let n = run::<Cgroups<'_, P>>(
            &mut self.core,
            &mut self.request,
            &mut self.lookup,
            paths,
            timeout,
        )?;
        Ok(CgroupsLookupView::decode(&self.lookup.out[..n])?)
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
    /// the whole logical call.
    ///
    /// # Errors
    /// As for [`CgroupsLookupClient::call_with_timeout`](super::CgroupsLookupClient).
    pub fn call_with_timeout(
        &mut self,
        pids: &[u32],
        timeout: Option<Duration>,
    ) -> Result<AppsLookupView<'_>> {
        let timeout = self.timeout(timeout);
        let n = run::<Apps>(
            &mut self.core,
            &mut self.request,
            &mut self.lookup,
            pids,
            timeout,
        )?;
        Ok(AppsLookupView::decode(&self.lookup.out[..n])?)
    }
}
