//! The result of each chapter, and the summary table.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::human;

/// Decisions the load generator counted during a chapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadTally {
    /// Allowed (HTTP 200).
    pub allowed: u64,
    /// Denied (HTTP 429).
    pub denied: u64,
    /// Failed requests (refused connections, timeouts, 5xx).
    pub errors: u64,
}

/// What one chapter observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChapterResult {
    /// 1-based.
    pub chapter: usize,
    /// Its title.
    pub title: String,
    /// The fault it injected (`-` for the baseline).
    pub fault: String,
    /// Whether the expected outcome was observed.
    pub ok: bool,
    /// What was observed, or what was missing.
    pub outcome: String,
    /// From the fault to the monitor opening the expected ticket.
    pub detected_after_ms: Option<u64>,
    /// What was detected (`invariant[entity]`).
    pub detected: Option<String>,
    /// From the repair (restart, action) to the chapter's tickets resolved.
    pub recovered_after_ms: Option<u64>,
    /// Tickets opened during the chapter (`invariant[entity]`).
    pub opened: Vec<String>,
    /// Tickets resolved during the chapter.
    pub resolved: Vec<String>,
    /// Load during the chapter.
    pub load: LoadTally,
    /// Length of the chapter.
    pub took_ms: u64,
}

impl ChapterResult {
    /// A result with nothing observed yet.
    pub fn new(chapter: usize, title: &str, fault: &str) -> Self {
        Self {
            chapter,
            title: title.to_owned(),
            fault: fault.to_owned(),
            ok: false,
            outcome: String::new(),
            detected_after_ms: None,
            detected: None,
            recovered_after_ms: None,
            opened: Vec::new(),
            resolved: Vec::new(),
            load: LoadTally::default(),
            took_ms: 0,
        }
    }
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "-".to_owned(),
        |m| human::duration(Duration::from_millis(m)),
    )
}

/// The summary table, as plain text (one header, one row per chapter).
pub fn table(rows: &[ChapterResult]) -> String {
    let header = [
        "#",
        "chapter",
        "fault",
        "detected",
        "detected after",
        "recovered after",
        "tickets",
        "result",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.chapter.to_string(),
                r.title.clone(),
                r.fault.clone(),
                r.detected.clone().unwrap_or_else(|| "-".to_owned()),
                ms(r.detected_after_ms),
                ms(r.recovered_after_ms),
                format!("{} opened / {} resolved", r.opened.len(), r.resolved.len()),
                if r.ok { "ok" } else { "FAILED" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: &[String]| {
        let mut s = String::from(" ");
        for (c, w) in cols.iter().zip(widths) {
            let _ = write!(s, " {c:<w$} ");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_its_columns() {
        let mut a = ChapterResult::new(2, "Redis killed", "kill-redis");
        a.ok = true;
        a.detected = Some("redis_healthy".into());
        a.detected_after_ms = Some(612);
        a.recovered_after_ms = Some(2_410);
        a.opened = vec!["redis_healthy".into()];
        let b = ChapterResult::new(5, "a node killed and restarted", "kill-node 2");
        let t = table(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(
            lines[2].contains("612ms") && lines[2].contains("2.41s") && lines[2].ends_with("ok")
        );
        assert!(lines[3].ends_with("FAILED"), "{t}");
        let col = lines[0].find("fault").unwrap();
        assert_eq!(&lines[2][col..col + 10], "kill-redis");
    }
}
