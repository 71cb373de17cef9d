//! Item counts of the batch rows: `--batch N` (every batch carries N
//! INCREMENT items) or `--batch MIN..MAX` (each batch carries a count
//! drawn uniformly from MIN to MAX, both included).
//!
//! A random count is a function of the request id and a fixed seed
//! ([`BatchSize::of`]): the same id always carries the same count, so two
//! runs draw the same sequence, the count of a pipelined answer (which may
//! come back in any order) is known without remembering it, and drawing
//! allocates nothing. The draw is `fastrand`'s (wyrand seeded with the
//! seed plus the id, and an unbiased range reduction); the crate is
//! already in the build through `tempfile`.

use std::fmt;

use netipc::wire::{MAX_PAYLOAD_CAP, batch_payload_len};

/// Most items in one batch: 65536 INCREMENT items (8 bytes each, plus an
/// 8-byte directory entry) fill the 1 MiB payload size that netipc peers
/// grow to by default.
pub const MAX_BATCH: u32 = 65536;

/// The seed of the random counts.
const SEED: u64 = 0x6e65_7469_7063_0014;

/// The item count of the requests of a batch row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// Every request carries this many items.
    Fixed(u32),
    /// Each request carries a count drawn uniformly from `min..=max`.
    Random { min: u32, max: u32 },
}

impl BatchSize {
    /// The items of the request with message id `id`.
    pub fn of(self, id: u64) -> u32 {
        match self {
            Self::Fixed(n) => n,
            Self::Random { min, max } => {
                fastrand::Rng::with_seed(SEED.wrapping_add(id)).u32(min..=max)
            }
        }
    }

    /// The largest count of a request.
    pub fn max(self) -> u32 {
        match self {
            Self::Fixed(n) | Self::Random { max: n, .. } => n,
        }
    }

    /// The payload of the largest request (and of its answer): the batch
    /// directory and the 8-byte items, or 8 bytes for a single request.
    pub fn max_payload(self) -> u32 {
        let n = self.max();
        let len = if n < 2 {
            8
        } else {
            batch_payload_len((0..n).map(|_| 8)).unwrap_or(usize::MAX)
        };
        u32::try_from(len).unwrap_or(u32::MAX)
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Random { min, max } => write!(f, "{min}..{max}"),
        }
    }
}

/// Command-line parser of `--batch`: `N` or `MIN..MAX`, from 1 to
/// [`MAX_BATCH`] items.
///
/// # Errors
/// Not a count or a range, a count of 0 or above [`MAX_BATCH`], or an
/// empty range.
pub fn parse(s: &str) -> Result<BatchSize, String> {
    let count = |t: &str| {
        let n: u32 = t.trim().parse().map_err(|_| {
            format!("`{s}` is not a batch size: write N or MIN..MAX (for example 64 or 2..1000)")
        })?;
        match n {
            0 => Err("a batch carries at least 1 item (got 0)".to_owned()),
            n if n > MAX_BATCH => Err(format!(
                "{n} items per batch is above the cap of {MAX_BATCH} (a batch of {MAX_BATCH} \
                 INCREMENT items fills the {} MiB payload size netipc peers grow to)",
                MAX_PAYLOAD_CAP >> 20
            )),
            n => Ok(n),
        }
    };
    match s.split_once("..") {
        None => count(s).map(BatchSize::Fixed),
        Some((min, max)) => {
            let (min, max) = (count(min)?, count(max)?);
            match min.cmp(&max) {
                std::cmp::Ordering::Greater => Err(format!(
                    "the range {min}..{max} is empty: write the smaller count first ({max}..{min})"
                )),
                std::cmp::Ordering::Equal => Ok(BatchSize::Fixed(min)),
                std::cmp::Ordering::Less => Ok(BatchSize::Random { min, max }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_ranges() {
        assert_eq!(parse("64"), Ok(BatchSize::Fixed(64)));
        assert_eq!(
            parse("2..1000"),
            Ok(BatchSize::Random { min: 2, max: 1000 })
        );
        assert_eq!(parse("7..7"), Ok(BatchSize::Fixed(7)));
        assert_eq!(parse("65536"), Ok(BatchSize::Fixed(MAX_BATCH)));
        assert!(parse("0").unwrap_err().contains("at least 1"));
        assert!(parse("0..5").unwrap_err().contains("at least 1"));
        assert!(parse("5..2").unwrap_err().contains("empty"));
        assert!(parse("1..100000").unwrap_err().contains("cap of 65536"));
        assert!(parse("x").unwrap_err().contains("MIN..MAX"));
        assert!(parse("2..").unwrap_err().contains("MIN..MAX"));
        assert_eq!(
            BatchSize::Random { min: 2, max: 1000 }.to_string(),
            "2..1000"
        );
        assert_eq!(BatchSize::Fixed(16).to_string(), "16");
    }

    #[test]
    fn random_counts_are_fixed_per_id_spread_and_in_range() {
        let b = BatchSize::Random { min: 2, max: 1000 };
        let counts: Vec<u32> = (1..=4000).map(|id| b.of(id)).collect();
        assert_eq!(counts, (1..=4000).map(|id| b.of(id)).collect::<Vec<_>>());
        assert!(counts.iter().all(|&n| (2..=1000).contains(&n)));
        assert!(counts.contains(&2) && counts.contains(&1000));
        let mean = counts.iter().map(|&n| f64::from(n)).sum::<f64>() / 4000.0;
        assert!((mean - 501.0).abs() < 20.0, "mean {mean}");
        assert!(counts.windows(2).filter(|w| w[0] == w[1]).count() < 20);
        assert_eq!(BatchSize::Fixed(5).of(99), 5);
    }

    #[test]
    fn the_largest_batch_fills_the_default_ceiling() {
        assert_eq!(BatchSize::Fixed(MAX_BATCH).max_payload(), MAX_PAYLOAD_CAP);
        assert_eq!(
            BatchSize::Random { min: 2, max: 1000 }.max_payload(),
            16_000
        );
        assert_eq!(BatchSize::Fixed(1).max_payload(), 8);
    }
}
