//! Which rows of a list are selected, following the usual desktop rules: a click selects
//! one row, Ctrl+click toggles a row, Shift+click extends from the last clicked row over
//! the rows as they are shown (sorted and filtered), Ctrl+Shift+click adds that range.

use std::collections::HashSet;
use std::hash::Hash;

/// The selected rows and the row a Shift+click extends from.
#[derive(Debug, Clone)]
pub struct Selection<K> {
    selected: HashSet<K>,
    /// The row last clicked without Shift: ranges start here.
    anchor: Option<K>,
}

impl<K> Default for Selection<K> {
    fn default() -> Self {
        Self {
            selected: HashSet::new(),
            anchor: None,
        }
    }
}

impl<K: Clone + Eq + Hash> Selection<K> {
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }

    pub fn len(&self) -> usize {
        self.selected.len()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.selected.contains(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.selected.iter()
    }

    pub fn clear(&mut self) {
        self.selected.clear();
        self.anchor = None;
    }

    /// A click on `key` with `modifiers` held; `shown` is the list in display order.
    pub fn click(&mut self, key: &K, modifiers: egui::Modifiers, shown: &[K]) {
        let range = if modifiers.shift {
            self.anchor
                .as_ref()
                .and_then(|anchor| shown.iter().position(|k| k == anchor))
                .zip(shown.iter().position(|k| k == key))
        } else {
            None
        };
        match range {
            Some((from, to)) => {
                if !modifiers.command {
                    self.selected.clear();
                }
                let (low, high) = (from.min(to), from.max(to));
                self.selected.extend(shown[low..=high].iter().cloned());
            }
            None if modifiers.command => {
                if !self.selected.remove(key) {
                    self.selected.insert(key.clone());
                }
                self.anchor = Some(key.clone());
            }
            None => {
                self.selected.clear();
                self.selected.insert(key.clone());
                self.anchor = Some(key.clone());
            }
        }
    }

    /// Forgets rows that no longer exist.
    pub fn retain(&mut self, mut exists: impl FnMut(&K) -> bool) {
        self.selected.retain(|key| exists(key));
        if self.anchor.as_ref().is_some_and(|anchor| !exists(anchor)) {
            self.anchor = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use egui::Modifiers;

    use super::*;

    fn selected(selection: &Selection<u32>) -> Vec<u32> {
        let mut keys: Vec<u32> = selection.iter().copied().collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_click_selects_one_and_ctrl_click_toggles() {
        let shown = [1, 2, 3, 4];
        let mut selection = Selection::default();
        selection.click(&2, Modifiers::NONE, &shown);
        selection.click(&3, Modifiers::NONE, &shown);
        assert_eq!(selected(&selection), [3]);
        selection.click(&1, Modifiers::COMMAND, &shown);
        assert_eq!(selected(&selection), [1, 3]);
        selection.click(&3, Modifiers::COMMAND, &shown);
        assert_eq!(selected(&selection), [1]);
    }

    #[test]
    fn shift_click_extends_over_the_shown_order_from_the_anchor() {
        // Shown sorted differently from the keys' own order.
        let shown = [40, 10, 30, 20];
        let mut selection = Selection::default();
        selection.click(&10, Modifiers::NONE, &shown);
        selection.click(&20, Modifiers::SHIFT, &shown);
        assert_eq!(selected(&selection), [10, 20, 30]);
        // The anchor stays: extending the other way replaces the range.
        selection.click(&40, Modifiers::SHIFT, &shown);
        assert_eq!(selected(&selection), [10, 40]);
        selection.click(&20, Modifiers::COMMAND, &shown);
        selection.click(&30, Modifiers::COMMAND | Modifiers::SHIFT, &shown);
        assert_eq!(selected(&selection), [10, 20, 30, 40]);
    }

    #[test]
    fn shift_click_without_an_anchor_selects_the_row_and_vanished_rows_drop_out() {
        let shown = [1, 2, 3];
        let mut selection = Selection::default();
        selection.click(&2, Modifiers::SHIFT, &shown);
        assert_eq!(selected(&selection), [2]);
        selection.click(&3, Modifiers::COMMAND, &shown);
        selection.retain(|key| *key != 3);
        assert_eq!(selected(&selection), [2]);
        selection.click(&1, Modifiers::SHIFT, &shown);
        assert_eq!(selected(&selection), [1], "the anchor went with its row");
    }
}
