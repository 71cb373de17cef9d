//! The table of a server's connections: slots addressed by tokens that
//! carry a generation, so an event for a connection that is gone never
//! reaches the one that reused its slot.

use std::sync::Arc;

/// The first token of a connection; lower ones are the server's own.
pub(crate) const FIRST_TOKEN: u64 = 16;

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<Arc<T>>,
}

#[derive(Debug)]
pub(crate) struct Registry<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

fn split(token: u64) -> Option<(usize, u32)> {
    let low = (token & 0xffff_ffff).checked_sub(FIRST_TOKEN)?;
    Some((usize::try_from(low).ok()?, (token >> 32) as u32))
}

impl<T> Registry<T> {
    /// Stores the entry `make` builds from its token.
    pub(crate) fn insert(&mut self, make: impl FnOnce(u64) -> T) -> Arc<T> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        let token = (u64::from(slot.generation) << 32) | (index as u64 + FIRST_TOKEN);
        let entry = Arc::new(make(token));
        slot.entry = Some(entry.clone());
        entry
    }

    /// The entry of `token`, if it is still there.
    pub(crate) fn get(&self, token: u64) -> Option<Arc<T>> {
        let (index, generation) = split(token)?;
        let slot = self.slots.get(index)?;
        (slot.generation == generation)
            .then(|| slot.entry.clone())
            .flatten()
    }

    /// Removes and returns the entry of `token`.
    pub(crate) fn remove(&mut self, token: u64) -> Option<Arc<T>> {
        let (index, generation) = split(token)?;
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index as u32);
        Some(entry)
    }

    /// Removes every entry.
    pub(crate) fn drain(&mut self) -> Vec<Arc<T>> {
        let entries = self
            .slots
            .iter_mut()
            .filter_map(|s| {
                s.generation = s.generation.wrapping_add(1);
                s.entry.take()
            })
            .collect();
        self.free = (0..self.slots.len() as u32).collect();
        entries
    }
}
