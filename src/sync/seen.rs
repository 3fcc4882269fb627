//! The devices a run has seen, and a per-process cache of them for runs whose page steps
//! execute one by one (possibly in different processes).
//!
//! In process, a run's seen set lives as long as the run. A durable executor runs each page
//! as its own step: the durable record is the store's seen log (one chunk per page step), and
//! reading the whole log before every page would cost O(n) per page — O(n²) per run. The
//! [`SeenCache`] keeps each run's set between its steps in this process, and falls back to the
//! log when another process ran some of the steps in between.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{ExternalDeviceId, RunId};

/// Runs whose seen sets one process keeps between steps; beyond it the least recently used is
/// dropped (and read back from the store's log if its run continues here).
const CACHED_RUNS: usize = 16;

/// Device ids, each tagged with the chunk (page step) that first saw it.
#[derive(Debug, Default)]
pub(super) struct SeenSet {
    ids: HashMap<ExternalDeviceId, u64>,
    /// The chunk being executed: what it inserts is tagged with it.
    chunk: u64,
    /// The highest tag present.
    max_tag: u64,
}

impl SeenSet {
    /// A set read back from the store's log: everything recorded before `chunk`.
    pub(super) fn loaded(ids: Vec<ExternalDeviceId>, chunk: u64) -> Self {
        let tag = chunk.saturating_sub(1);
        Self {
            ids: ids.into_iter().map(|id| (id, tag)).collect(),
            chunk,
            max_tag: tag,
        }
    }

    /// Prepares for executing `chunk`: forgets what `chunk` or later ones inserted (the lost
    /// first attempt of a retried step), so its devices count as first seen again.
    pub(super) fn start_chunk(&mut self, chunk: u64) {
        if !self.ids.is_empty() && self.max_tag >= chunk {
            self.ids.retain(|_, tag| *tag < chunk);
        }
        self.chunk = chunk;
        self.max_tag = chunk.saturating_sub(1);
    }

    /// Adds a device; `false` if it was seen already.
    pub(super) fn insert(&mut self, id: ExternalDeviceId) -> bool {
        match self.ids.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.chunk);
                self.max_tag = self.max_tag.max(self.chunk);
                true
            }
        }
    }

    /// Whether the device was seen.
    pub(super) fn contains(&self, id: &ExternalDeviceId) -> bool {
        self.ids.contains_key(id)
    }
}

impl FromIterator<ExternalDeviceId> for SeenSet {
    fn from_iter<I: IntoIterator<Item = ExternalDeviceId>>(iter: I) -> Self {
        Self {
            ids: iter.into_iter().map(|id| (id, 0)).collect(),
            ..Self::default()
        }
    }
}

/// A cached run: its set holds every chunk below `through`.
#[derive(Debug)]
struct Cached {
    set: SeenSet,
    through: u64,
    used: u64,
}

/// Seen sets of runs between their page steps in this process (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct SeenCache {
    runs: Mutex<(HashMap<RunId, Cached>, u64)>,
}

impl SeenCache {
    /// The run's set ready for `chunk`, if this process holds every chunk before it.
    pub(super) fn take(&self, run: RunId, chunk: u64) -> Option<SeenSet> {
        let mut guard = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let cached = guard.0.remove(&run)?;
        (cached.through >= chunk).then(|| {
            let mut set = cached.set;
            set.start_chunk(chunk);
            set
        })
    }

    /// Keeps the run's set, which now holds every chunk below `through`.
    pub(super) fn put(&self, run: RunId, set: SeenSet, through: u64) {
        let mut guard = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let (runs, clock) = &mut *guard;
        *clock += 1;
        runs.insert(
            run,
            Cached {
                set,
                through,
                used: *clock,
            },
        );
        if runs.len() > CACHED_RUNS
            && let Some(oldest) = runs.iter().min_by_key(|(_, c)| c.used).map(|(r, _)| *r)
        {
            runs.remove(&oldest);
        }
    }

    /// Forgets the run (it finished).
    pub(super) fn forget(&self, run: RunId) {
        let mut guard = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.remove(&run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ExternalDeviceId {
        ExternalDeviceId::new(s)
    }

    #[test]
    fn a_retried_chunk_sees_its_own_devices_as_new_and_earlier_ones_as_seen() {
        let mut set = SeenSet::default();
        set.start_chunk(0);
        assert!(set.insert(id("a")));
        set.start_chunk(1);
        assert!(set.insert(id("b")));
        assert!(!set.insert(id("a")), "seen by chunk 0");
        // Chunk 1 again (its first attempt was lost).
        set.start_chunk(1);
        assert!(
            set.insert(id("b")),
            "chunk 1's own first attempt is forgotten"
        );
        assert!(!set.insert(id("a")));
    }

    #[test]
    fn the_cache_serves_only_runs_it_holds_every_earlier_chunk_of() {
        let cache = SeenCache::default();
        let run = RunId::new_v7();
        let mut set = SeenSet::default();
        set.start_chunk(0);
        set.insert(id("a"));
        cache.put(run, set, 1);
        assert!(cache.take(run, 3).is_none(), "chunks 1 and 2 ran elsewhere");
        let mut set = SeenSet::loaded(vec![id("a"), id("b")], 3);
        set.insert(id("c"));
        cache.put(run, set, 4);
        let set = cache.take(run, 4).expect("holds 0..4");
        assert!(set.contains(&id("a")) && set.contains(&id("c")));
        cache.put(run, set, 5);
        let set = cache.take(run, 3).expect("a retried chunk 3");
        assert!(!set.contains(&id("c")), "chunk 3's own insert is forgotten");
        assert!(set.contains(&id("b")));
    }

    #[test]
    fn the_cache_drops_the_least_recently_used_run() {
        let cache = SeenCache::default();
        let runs: Vec<RunId> = (0..=CACHED_RUNS).map(|_| RunId::new_v7()).collect();
        for r in &runs {
            cache.put(*r, SeenSet::default(), 1);
        }
        assert!(cache.take(runs[0], 1).is_none(), "the oldest was dropped");
        assert!(cache.take(runs[CACHED_RUNS], 1).is_some());
    }
}
