//! The history view's model: the rows the store holds are fetched a page at a time as
//! they scroll into view, and only a few pages are kept, so a history of a million
//! entries costs the window what one screen of it does. Updated by engine events only.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::engine::EngineCommand;
use crate::engine::EngineEvent;
use crate::engine::store::HistoryEntry;

/// Entries asked for at once.
pub const HISTORY_PAGE_ROWS: u32 = 100;
/// Pages kept in memory; the least recently shown goes first.
pub const MAX_CACHED_PAGES: usize = 8;

/// One fetched page.
#[derive(Debug)]
struct Page {
    entries: Vec<HistoryEntry>,
    /// Entries landed since it was read: shown until its reload arrives.
    stale: bool,
    /// When it was last drawn (a frame counter), for eviction.
    last_shown: u64,
}

/// What the history view shows and what it still waits for.
#[derive(Debug, Default)]
pub struct HistoryModel {
    /// The search as typed.
    pub search: String,
    /// The search the pages and the total belong to; answers for another are dropped.
    loaded_search: String,
    /// How many entries match, once the store said.
    total: Option<u64>,
    /// Fetched pages by number (offset / [`HISTORY_PAGE_ROWS`]).
    pages: BTreeMap<u64, Page>,
    /// Pages asked for and not answered yet.
    requested: BTreeSet<u64>,
    /// Counts frames drawn, for eviction.
    frame: u64,
    /// "Clear history" was clicked and waits for its confirmation.
    pub confirm_clear: bool,
    /// Put the keyboard into the search on the next frame (Ctrl+F).
    pub focus_search: bool,
}

impl HistoryModel {
    /// How many entries match the search (0 until the first page arrives).
    pub fn total(&self) -> u64 {
        self.total.unwrap_or(0)
    }

    /// Whether the first answer for the current search has come.
    pub fn is_loaded(&self) -> bool {
        self.total.is_some()
    }

    /// The entry at `index` (0 is the newest), if its page is here.
    pub fn entry(&self, index: u64) -> Option<&HistoryEntry> {
        let rows = u64::from(HISTORY_PAGE_ROWS);
        self.pages
            .get(&(index / rows))
            .and_then(|page| page.entries.get((index % rows) as usize))
    }

    /// How many pages are held (bounded by [`MAX_CACHED_PAGES`]).
    pub fn cached_pages(&self) -> usize {
        self.pages.len()
    }

    /// Takes a history event; other events are not for this model.
    pub fn apply(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::HistoryPage {
                search,
                offset,
                total,
                entries,
            } => self.apply_page(search, offset, total, entries),
            EngineEvent::HistoryChanged => {
                for page in self.pages.values_mut() {
                    page.stale = true;
                }
                // Answers on their way were read before the change: ask again.
                self.requested.clear();
                if self.total.is_none() {
                    self.pages.clear();
                }
            }
            _ => {}
        }
    }

    fn apply_page(&mut self, search: String, offset: u64, total: u64, entries: Vec<HistoryEntry>) {
        if search != self.loaded_search {
            return;
        }
        let rows = u64::from(HISTORY_PAGE_ROWS);
        if !offset.is_multiple_of(rows) {
            return;
        }
        let number = offset / rows;
        self.requested.remove(&number);
        self.total = Some(total);
        // Pages past the end (the history shrank) are gone; the first stays, even empty,
        // so an empty history is not asked for again until it changes.
        let pages_now = total.div_ceil(rows).max(1);
        self.pages.retain(|&n, _| n < pages_now);
        if number < pages_now {
            self.pages.insert(
                number,
                Page {
                    entries,
                    stale: false,
                    last_shown: self.frame,
                },
            );
        }
        self.evict();
    }

    /// Drops the least recently shown pages beyond [`MAX_CACHED_PAGES`].
    fn evict(&mut self) {
        while self.pages.len() > MAX_CACHED_PAGES {
            let oldest = self
                .pages
                .iter()
                .min_by_key(|(_, page)| page.last_shown)
                .map(|(&n, _)| n);
            match oldest {
                Some(n) => self.pages.remove(&n),
                None => break,
            };
        }
    }

    /// The search text changed: everything held belongs to the old one.
    pub fn search_changed(&mut self) {
        if self.search == self.loaded_search {
            return;
        }
        self.loaded_search = self.search.clone();
        self.total = None;
        self.pages.clear();
        self.requested.clear();
    }

    /// Notes which rows are on screen and returns the loads for the pages covering them
    /// that are missing or out of date (the first page while nothing is known).
    pub fn loads_for(&mut self, visible: Range<u64>) -> Vec<EngineCommand> {
        self.frame += 1;
        let rows = u64::from(HISTORY_PAGE_ROWS);
        let wanted = if self.total.is_none() || visible.is_empty() {
            0..1
        } else {
            visible.start / rows..visible.end.div_ceil(rows)
        };
        let mut loads = Vec::new();
        for number in wanted {
            let fresh = match self.pages.get_mut(&number) {
                Some(page) => {
                    page.last_shown = self.frame;
                    !page.stale
                }
                None => false,
            };
            if !fresh && self.requested.insert(number) {
                loads.push(EngineCommand::LoadHistory {
                    search: self.loaded_search.clone(),
                    offset: number * rows,
                    limit: HISTORY_PAGE_ROWS,
                });
            }
        }
        loads
    }

    /// Forgets what was asked and fetched (a new engine answers from scratch).
    pub fn reset(&mut self) {
        let search = std::mem::take(&mut self.search);
        *self = Self {
            search,
            ..Self::default()
        };
        self.loaded_search = self.search.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::engine::store::{HistoryId, NewHistory};

    fn entries(from: i64, count: usize) -> Vec<HistoryEntry> {
        (0..count as i64)
            .map(|i| HistoryEntry {
                id: HistoryId(from - i),
                entry: NewHistory {
                    finished_unix_secs: 0,
                    duration_ms: 0,
                    bytes: 1,
                    etag: String::new(),
                    crc64_verified: false,
                    url: format!("oss://demo/{}", from - i),
                    target_label: String::new(),
                    local_path: PathBuf::new(),
                },
            })
            .collect()
    }

    fn page(search: &str, number: u64, total: u64) -> EngineEvent {
        let rows = u64::from(HISTORY_PAGE_ROWS);
        let offset = number * rows;
        let count = total.saturating_sub(offset).min(rows) as usize;
        EngineEvent::HistoryPage {
            search: search.into(),
            offset,
            total,
            entries: entries((total - offset) as i64, count),
        }
    }

    fn offsets(loads: &[EngineCommand]) -> Vec<u64> {
        loads
            .iter()
            .map(|load| match load {
                EngineCommand::LoadHistory { offset, .. } => *offset,
                other => panic!("not a load: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn pages_are_asked_once_for_the_visible_rows_and_few_are_kept() {
        let mut model = HistoryModel::default();
        assert_eq!(offsets(&model.loads_for(0..0)), [0]);
        assert!(model.loads_for(0..0).is_empty(), "asked once");
        model.apply(page("", 0, 1_000_000));
        assert_eq!(model.total(), 1_000_000);
        assert!(model.loads_for(0..30).is_empty());
        // Scrolling to rows 150..230 needs pages 1 and 2.
        assert_eq!(offsets(&model.loads_for(150..230)), [100, 200]);
        for number in 0..20 {
            model.loads_for(number * 100..number * 100 + 30);
            model.apply(page("", number, 1_000_000));
        }
        assert_eq!(model.cached_pages(), MAX_CACHED_PAGES);
        assert!(model.entry(1_950).is_some(), "the last shown page is kept");
        assert!(model.entry(50).is_none(), "the first page was dropped");
        assert_eq!(model.entry(1_901).unwrap().entry.url, "oss://demo/998099");
    }

    #[test]
    fn a_new_search_drops_the_old_pages_and_late_answers() {
        let mut model = HistoryModel::default();
        model.loads_for(0..0);
        model.apply(page("", 0, 500));
        model.search = "jpg".into();
        model.search_changed();
        assert!(!model.is_loaded());
        let loads = model.loads_for(0..20);
        assert!(
            matches!(&loads[..], [EngineCommand::LoadHistory { search, offset: 0, .. }] if search == "jpg")
        );
        model.apply(page("", 0, 500));
        assert!(
            !model.is_loaded(),
            "an answer for the old search is dropped"
        );
        model.apply(page("jpg", 0, 3));
        assert_eq!(model.total(), 3);
        assert!(model.entry(2).is_some());
    }

    #[test]
    fn a_change_reloads_the_shown_pages_and_keeps_them_meanwhile() {
        let mut model = HistoryModel::default();
        model.loads_for(0..0);
        model.apply(page("", 0, 5));
        model.apply(EngineEvent::HistoryChanged);
        assert!(model.entry(0).is_some(), "still shown while reloading");
        assert_eq!(offsets(&model.loads_for(0..5)), [0]);
        model.apply(page("", 0, 0));
        assert_eq!(model.total(), 0);
        assert!(model.entry(0).is_none(), "cleared");
    }
}
