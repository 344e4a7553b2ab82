//! Finished uploads, kept after their job is gone so the window can show what went where
//! and whether its bytes were verified; paged and searched, never loaded whole.

use std::path::PathBuf;

use rusqlite::{Connection, Row, params};

use super::{
    HistoryId, QueueStore, StoreError, blob_to_path, from_db_int, page_limit, path_to_blob,
};

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
        let error = self.sql_error("read history");
        let pattern = contains_pattern(search.unwrap_or(""));
        let before = after.map_or(i64::MAX, |id| id.0);
        let mut page = Vec::new();
        let collected = (|| {
            let mut statement = self.conn.prepare_cached(
                "SELECT id, finished_unix_secs, duration_ms, bytes, etag, crc64_verified, url,
                        target_label, local_path
                 FROM history
                 WHERE id < ?1 AND (url LIKE ?2 ESCAPE '\\' OR target_label LIKE ?2 ESCAPE '\\'
                                    OR etag LIKE ?2 ESCAPE '\\')
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let mut rows = statement.query(params![before, pattern, page_limit(limit)])?;
            while let Some(row) = rows.next()? {
                page.push(history_row(row)?);
            }
            Ok(())
        })();
        collected.map_err(error)?;
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
