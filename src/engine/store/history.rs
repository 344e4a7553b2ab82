//! Finished uploads, kept after their job is gone so the window can show what went where
//! and whether its bytes were verified; paged and searched, never loaded whole.

use std::path::PathBuf;

use rusqlite::{Connection, Row, params};

use super::{
    HistoryId, QueueStore, StoreError, blob_to_path, from_db_int, page_limit, path_to_blob,
    to_db_int,
};

/// The columns [`history_row`] reads, in its order.
const HISTORY_COLUMNS: &str = "id, finished_unix_secs, duration_ms, bytes, etag, crc64_verified, \
                               url, target_label, local_path";

/// Where a view's search looks: the object's URL or the file that was sent (its bytes,
/// compared as text), literally and ASCII case-insensitively.
const VIEW_SEARCH: &str =
    "(url LIKE ?1 ESCAPE '\\' OR CAST(local_path AS TEXT) LIKE ?1 ESCAPE '\\')";

/// One finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHistory {
    /// When it completed, seconds since the Unix epoch.
    pub finished_unix_secs: u64,
    /// How long it took, for the speed shown beside it.
    pub duration_ms: u64,
    /// The object's size.
    pub bytes: u64,
    /// The ETag the server returned.
    pub etag: String,
    /// True only when the server's CRC-64 was compared with ours and matched.
    pub crc64_verified: bool,
    /// `oss://bucket/key`.
    pub url: String,
    /// The target's label at the time, so the entry reads well after the target is gone.
    pub target_label: String,
    /// The file that was sent.
    pub local_path: PathBuf,
}

/// A stored history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its row id; pages are newest first by it.
    pub id: HistoryId,
    /// What was recorded.
    pub entry: NewHistory,
}

/// Writes one entry; used alone and inside the outcome batch's transaction.
pub(super) fn insert_history(conn: &Connection, entry: &NewHistory) -> rusqlite::Result<()> {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO history (finished_unix_secs, duration_ms, bytes, etag, crc64_verified,
                              url, target_label, local_path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        int(entry.finished_unix_secs),
        int(entry.duration_ms),
        int(entry.bytes),
        entry.etag,
        entry.crc64_verified,
        entry.url,
        entry.target_label,
        path_to_blob(&entry.local_path)
    ])?;
    Ok(())
}

fn history_row(row: &Row<'_>) -> rusqlite::Result<Result<HistoryEntry, String>> {
    let id = HistoryId(row.get(0)?);
    let finished: i64 = row.get(1)?;
    let duration: i64 = row.get(2)?;
    let bytes: i64 = row.get(3)?;
    let etag: String = row.get(4)?;
    let verified: bool = row.get(5)?;
    let url: String = row.get(6)?;
    let target_label: String = row.get(7)?;
    let local_path = blob_to_path(row.get(8)?);
    let checked = (|| {
        Ok(HistoryEntry {
            id,
            entry: NewHistory {
                finished_unix_secs: from_db_int(finished, "its finish time")?,
                duration_ms: from_db_int(duration, "its duration")?,
                bytes: from_db_int(bytes, "its size")?,
                etag,
                crc64_verified: verified,
                url,
                target_label,
                local_path,
            },
        })
    })();
    Ok(
        checked
            .map_err(|reason: String| format!("history entry {} cannot be read: {reason}", id.0)),
    )
}

/// `text` as a LIKE pattern that matches it anywhere, literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl QueueStore {
    /// Records one finished upload outside an outcome batch (a stream, an imported one).
    pub fn append_history(&mut self, entry: &NewHistory) -> Result<HistoryId, StoreError> {
        insert_history(&self.conn, entry).map_err(self.sql_error("record a finished upload"))?;
        Ok(HistoryId(self.conn.last_insert_rowid()))
    }

    /// A page of history, newest first, starting after `after` (exclusive) and keeping
    /// entries whose URL, target or ETag contain `search` (ASCII case-insensitive).
    pub fn history_page(
        &self,
        after: Option<HistoryId>,
        limit: usize,
        search: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let pattern = contains_pattern(search.unwrap_or(""));
        let before = after.map_or(i64::MAX, |id| id.0);
        self.history_query(
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM history
                 WHERE id < ?1 AND (url LIKE ?2 ESCAPE '\\' OR target_label LIKE ?2 ESCAPE '\\'
                                    OR etag LIKE ?2 ESCAPE '\\')
                 ORDER BY id DESC LIMIT ?3"
            ),
            params![before, pattern, page_limit(limit)],
        )
    }

    /// How many entries a view's search finds (all of them for an empty search).
    pub fn history_count(&self, search: &str) -> Result<u64, StoreError> {
        let error = self.sql_error("count history");
        let count: i64 = if search.is_empty() {
            self.conn
                .query_row("SELECT COUNT(*) FROM history", [], |row| row.get(0))
        } else {
            self.conn.query_row(
                &format!("SELECT COUNT(*) FROM history WHERE {VIEW_SEARCH}"),
                params![contains_pattern(search)],
                |row| row.get(0),
            )
        }
        .map_err(error)?;
        Ok(count.max(0) as u64)
    }

    /// The entries a view's search finds, newest first, from position `offset` on; at
    /// most `limit` (capped at [`super::MAX_PAGE_ROWS`]). An empty search keeps all.
    pub fn history_at(
        &self,
        search: &str,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let offset = to_db_int(offset, "history offset")?;
        let filter = if search.is_empty() { "1" } else { VIEW_SEARCH };
        self.history_query(
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM history WHERE {filter}
                 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
            ),
            params![contains_pattern(search), page_limit(limit), offset],
        )
    }

    /// Records finished uploads in one transaction, so many small files cost one commit.
    pub fn append_history_batch(&mut self, entries: &[NewHistory]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (tx, path) = self.begin_write("record finished uploads")?;
        let error = |e| super::classify(path, "record finished uploads", e);
        for entry in entries {
            insert_history(&tx, entry).map_err(error)?;
        }
        tx.commit().map_err(error)
    }

    /// Runs a history SELECT of [`HISTORY_COLUMNS`] and reads every row back, checked.
    fn history_query(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut page = Vec::new();
        let collected = (|| {
            let mut statement = self.conn.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            while let Some(row) = rows.next()? {
                page.push(history_row(row)?);
            }
            Ok(())
        })();
        collected.map_err(self.sql_error("read history"))?;
        page.into_iter()
            .collect::<Result<_, _>>()
            .map_err(StoreError::Invalid)
    }

    /// Forgets every history entry; returns how many there were.
    pub fn clear_history(&mut self) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM history", [])
            .map_err(self.sql_error("clear history"))
    }
}
