//! Draws a [`Dashboard`] on a ratatui frame: a header, the subject's entities, its invariants
//! and their alert state beside the open tickets, the opened ticket's diagnosis, and the keys.
//! Pure: the same state draws the same screen, on a terminal or on `TestBackend`.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::dashboard::model::{Dashboard, Level};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, d: &Dashboard) {
    let entity_rows = u16::try_from(d.entities.rows.len()).unwrap_or(u16::MAX);
    let [header, entities, middle, detail, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(entity_rows.saturating_add(3).min(16)),
        Constraint::Min(6),
        Constraint::Length(10),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(d), header);
    draw_entities(frame, entities, d);
    let [invariants, tickets] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(middle);
    draw_invariants(frame, invariants, d);
    draw_tickets(frame, tickets, d);
    frame.render_widget(detail_panel(d), detail);
    frame.render_widget(
        Line::from("↑/↓ select a ticket   Enter open (offline diagnosis)   Esc close   q quit")
            .style(Style::new().fg(Color::DarkGray)),
        keys,
    );
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%SZ").to_string()
}

fn header_line(d: &Dashboard) -> Line<'static> {
    let mode = if d.read_only { " [read-only]" } else { "" };
    let (status, color) = match (&d.observed_at, &d.observation_error) {
        (None, _) => (
            "waiting for the first observation".to_owned(),
            Color::DarkGray,
        ),
        (Some(_), Some(e)) => (format!("OBSERVATION FAILED: {e}"), Color::Red),
        (Some(_), None) if d.healthy() => ("HEALTHY".to_owned(), Color::Green),
        (Some(_), None) => {
            let n = d
                .invariants
                .iter()
                .filter(|r| r.level == Level::Firing)
                .count();
            (format!("{n} FIRING"), Color::Red)
        }
    };
    let at = d
        .observed_at
        .map(|t| format!(" at {}", ts(t)))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled(
            format!("operator dashboard: {}{mode}", d.subject),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  observation #{}{at}  ", d.observations)),
        Span::styled(status, Style::new().fg(color).add_modifier(Modifier::BOLD)),
    ])
}

fn draw_entities(frame: &mut Frame<'_>, area: Rect, d: &Dashboard) {
    let mut header = vec![Cell::from("entity"), Cell::from("state")];
    header.extend(d.entities.headers.iter().map(|h| Cell::from(h.clone())));
    let rows = d.entities.rows.iter().map(|r| {
        let color = if r.healthy { Color::Green } else { Color::Red };
        let mut cells = vec![
            Cell::from(r.name.clone()),
            Cell::from(r.state.clone()).style(Style::new().fg(color)),
        ];
        cells.extend(r.cells.iter().map(|c| Cell::from(c.clone())));
        Row::new(cells)
    });
    let mut widths = vec![Constraint::Length(34), Constraint::Length(40)];
    widths.extend(d.entities.headers.iter().map(|h| {
        if h == "detail" {
            Constraint::Min(20)
        } else {
            Constraint::Length(15)
        }
    }));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(" entities "));
    frame.render_widget(table, area);
}

fn draw_invariants(frame: &mut Frame<'_>, area: Rect, d: &Dashboard) {
    let rows = d.invariants.iter().map(|r| {
        let color = match r.level {
            Level::Ok => Color::Green,
            Level::Pending => Color::Yellow,
            Level::Firing => Color::Red,
        };
        let since = r
            .since
            .map(|t| format!("since {}", ts(t)))
            .unwrap_or_default();
        let what = match (r.severity, r.entities) {
            (Some(s), 1) => format!("{s}"),
            (Some(s), n) => format!("{s} ×{n}"),
            (None, _) => String::new(),
        };
        Row::new(vec![
            Cell::from(r.name.clone()),
            Cell::from(r.level.as_str()).style(Style::new().fg(color).add_modifier(Modifier::BOLD)),
            Cell::from(since),
            Cell::from(what),
        ])
    });
    let widths = [
        Constraint::Length(20),
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Min(8),
    ];
    let table = Table::new(rows, widths)
        .header(
            Row::new(["invariant", "state", "", "severity"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(" invariants "));
    frame.render_widget(table, area);
}

fn draw_tickets(frame: &mut Frame<'_>, area: Rect, d: &Dashboard) {
    let rows = d.tickets.iter().map(|t| {
        let what = match &t.entity {
            Some(e) => format!("{}[{e}]", t.invariant),
            None => t.invariant.clone(),
        };
        let held = if t.held { " (held)" } else { "" };
        Row::new(vec![
            Cell::from(format!("#{}", t.id)),
            Cell::from(t.severity.to_string()),
            Cell::from(format!("{what}{held}")),
            Cell::from(ts(t.first_seen)),
            Cell::from(t.message.clone()),
        ])
    });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(30),
        Constraint::Length(9),
        Constraint::Min(10),
    ];
    let title = format!(" open tickets ({}) ", d.tickets.len());
    let table = Table::new(rows, widths)
        .header(
            Row::new(["#", "severity", "violation", "since", "message"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .block(Block::bordered().title(title));
    let mut state =
        TableState::default().with_selected((!d.tickets.is_empty()).then_some(d.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail_panel(d: &Dashboard) -> Paragraph<'static> {
    let (title, lines) = match &d.detail {
        None => (
            " diagnosis ".to_owned(),
            vec![Line::from(
                "Select a ticket and press Enter to diagnose it (offline: the subject's rules, no network).",
            )],
        ),
        Some(detail) if detail.lines.is_empty() => (
            format!(" ticket #{} ", detail.ticket),
            vec![Line::from("diagnosing…")],
        ),
        Some(detail) => (
            format!(" ticket #{} ", detail.ticket),
            detail.lines.iter().map(|l| Line::from(l.clone())).collect(),
        ),
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(title))
}
