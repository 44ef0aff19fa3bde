//! What the eval reports: each [`TrialRecord`], their [`FaultSummary`] per fault, and the
//! [`EvalReport`] with its text and markdown tables.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::stats::Distribution;
use super::verdict::{TrialFacts, Verdict};
use crate::human;

/// One trial, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialRecord {
    /// The fault, e.g. `kill-node 2`.
    pub fault: String,
    /// 1-based, per fault.
    pub trial: usize,
    /// What it observed.
    pub facts: TrialFacts,
    /// The judgment.
    pub verdict: Verdict,
    /// What happened, one line per step (ticket events, faults, notes), as the demo tells it.
    pub timeline: Vec<String>,
}

/// The trials of one fault, summed up (the `faults` entries of `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultSummary {
    /// The fault.
    pub fault: String,
    /// Trials run.
    pub trials: usize,
    /// Trials won.
    pub won: usize,
    /// From the fault taking effect to the expected ticket (`null`: the fault expects none, or
    /// none was seen).
    pub mttd_ms: Option<Distribution>,
    /// From the expected ticket to its resolution by re-observation (`null`: nothing was
    /// repaired).
    pub mttr_ms: Option<Distribution>,
    /// Trials whose offline diagnosis named the expected cause.
    pub diagnosis_correct: usize,
    /// Tickets neither expected nor a legitimate side effect of the fault.
    pub false_tickets: usize,
}

impl FaultSummary {
    /// Sums up the `trials` of `fault`.
    pub fn of(fault: &str, trials: &[&TrialRecord]) -> Self {
        let mttd: Vec<u64> = trials.iter().filter_map(|t| t.facts.detected_ms).collect();
        let mttr: Vec<u64> = trials.iter().filter_map(|t| t.facts.resolved_ms).collect();
        Self {
            fault: fault.to_owned(),
            trials: trials.len(),
            won: trials.iter().filter(|t| t.verdict.won).count(),
            mttd_ms: Distribution::of(&mttd),
            mttr_ms: Distribution::of(&mttr),
            diagnosis_correct: trials
                .iter()
                .filter(|t| t.verdict.diagnosis_correct)
                .count(),
            false_tickets: trials.iter().map(|t| t.verdict.unexpected.len()).sum(),
        }
    }
}

/// The settings a run used (the `settings` of `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `ratelimit`.
    pub subject: String,
    /// `local` or `compose`.
    pub env: String,
    /// `single` (one Redis) or `cluster` (a Redis Cluster).
    pub redis: String,
    /// Trials per fault.
    pub trials: usize,
    /// The faults, in order.
    pub faults: Vec<String>,
    /// The soak's length.
    pub soak_ms: u64,
    /// `observe`, `propose`, `execute` or `off`.
    pub agent: String,
    /// Actions the agent may run.
    pub allow: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// Checks per second of the load.
    pub load_rate: f64,
    /// Time between observations.
    pub interval_ms: u64,
    /// Longest wait for each expected outcome.
    pub deadline_ms: u64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// How it ran.
    pub settings: Settings,
    /// Tickets opened during the soak.
    pub false_tickets: usize,
    /// One summary per fault.
    pub faults: Vec<FaultSummary>,
    /// The soak's tickets, `invariant[entity]`.
    #[serde(skip)]
    pub soak_tickets: Vec<String>,
    /// The soak could not start on a healthy stack.
    #[serde(skip)]
    pub soak_unhealthy: bool,
    /// Every trial.
    #[serde(skip)]
    pub trials: Vec<TrialRecord>,
    /// Interrupted by the shutdown signal, or stopped by an error (said here).
    #[serde(skip)]
    pub stopped: Option<String>,
}

impl EvalReport {
    /// Whether every trial planned ran and was won, and the soak saw no ticket.
    pub fn ok(&self) -> bool {
        let planned = self.settings.trials * self.settings.faults.len();
        self.stopped.is_none()
            && !self.soak_unhealthy
            && self.false_tickets == 0
            && self.trials.len() == planned
            && self.trials.iter().all(|t| t.verdict.won)
    }

    /// The trials that were lost.
    pub fn lost(&self) -> impl Iterator<Item = &TrialRecord> {
        self.trials.iter().filter(|t| !t.verdict.won)
    }

    /// The table, as plain text, with a first line on the soak.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let mut widths = HEADER.map(str::len);
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = format!("{}\n", self.soak_line());
        let mut line = |cols: &[String]| {
            let mut s = String::from(" ");
            for (c, w) in cols.iter().zip(widths) {
                let _ = write!(s, " {c:<w$} ");
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&HEADER.map(str::to_owned));
        line(&widths.map(|w| "-".repeat(w)));
        for row in &rows {
            line(row);
        }
        out
    }

    /// The table, as markdown, under the command's settings and the soak's line.
    pub fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "{} trials per fault on the {} stack{}, agent {}{}, seed {}, load {:.0} checks/s, \
             observed every {}.\n\n{}.\n\n",
            s.trials,
            s.env,
            if s.redis == "cluster" {
                " (Redis Cluster)"
            } else {
                ""
            },
            s.agent,
            if s.allow.is_empty() {
                String::new()
            } else {
                format!(" (allowed: {})", s.allow.join(", "))
            },
            s.seed,
            s.load_rate,
            ms(s.interval_ms),
            self.soak_line()
        );
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }

    fn soak_line(&self) -> String {
        if self.settings.soak_ms == 0 {
            return "soak: none".to_owned();
        }
        let mut line = format!(
            "soak: {} under load, {} false ticket{}",
            ms(self.settings.soak_ms),
            self.false_tickets,
            if self.false_tickets == 1 { "" } else { "s" }
        );
        if !self.soak_tickets.is_empty() {
            let _ = write!(line, " ({})", self.soak_tickets.join(", "));
        }
        if self.soak_unhealthy {
            line.push_str(" (the stack never looked healthy before it)");
        }
        line
    }

    fn rows(&self) -> Vec<[String; 7]> {
        self.faults
            .iter()
            .map(|f| {
                let expects_diagnosis = self
                    .trials
                    .iter()
                    .any(|t| t.fault == f.fault && t.facts.expected.is_some());
                [
                    f.fault.clone(),
                    f.trials.to_string(),
                    format!("{}/{}", f.won, f.trials),
                    dist(f.mttd_ms),
                    dist(f.mttr_ms),
                    if expects_diagnosis {
                        format!("{}/{}", f.diagnosis_correct, f.trials)
                    } else {
                        "-".to_owned()
                    },
                    f.false_tickets.to_string(),
                ]
            })
            .collect()
    }
}

const HEADER: [&str; 7] = [
    "fault",
    "trials",
    "won",
    "MTTD median / p90 / max",
    "MTTR median / p90 / max",
    "diagnosis right",
    "false tickets",
];

fn ms(v: u64) -> String {
    human::duration(Duration::from_millis(v))
}

fn dist(d: Option<Distribution>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{} / {} / {}", ms(d.median), ms(d.p90), ms(d.max)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(fault: &str, won: bool, detected: Option<u64>, resolved: Option<u64>) -> TrialRecord {
        TrialRecord {
            fault: fault.to_owned(),
            trial: 1,
            facts: TrialFacts {
                expected: detected.map(|_| "redis_healthy".to_owned()),
                detected_ms: detected,
                resolved_ms: resolved,
                ..TrialFacts::default()
            },
            verdict: Verdict {
                won,
                reasons: if won { vec![] } else { vec!["x".into()] },
                unexpected: if won {
                    vec![]
                } else {
                    vec!["no_stuck_keys".into()]
                },
                diagnosis_correct: won && detected.is_some(),
            },
            timeline: Vec::new(),
        }
    }

    fn report(trials: Vec<TrialRecord>) -> EvalReport {
        let names = ["kill-redis", "drop-policies"];
        let faults = names
            .iter()
            .map(|n| {
                let of: Vec<&TrialRecord> = trials.iter().filter(|t| t.fault == *n).collect();
                FaultSummary::of(n, &of)
            })
            .collect();
        EvalReport {
            settings: Settings {
                subject: "ratelimit".into(),
                env: "local".into(),
                redis: "single".into(),
                trials: 2,
                faults: names.iter().map(|n| (*n).to_owned()).collect(),
                soak_ms: 0,
                agent: "execute".into(),
                allow: vec!["repair_stuck_keys".into()],
                seed: 1,
                load_rate: 240.0,
                interval_ms: 500,
                deadline_ms: 15_000,
            },
            false_tickets: 0,
            faults,
            soak_tickets: Vec::new(),
            soak_unhealthy: false,
            trials,
            stopped: None,
        }
    }

    #[test]
    fn summaries_count_and_the_json_has_the_contract_keys() {
        let r = report(vec![
            trial("kill-redis", true, Some(400), Some(3_000)),
            trial("kill-redis", false, Some(900), None),
            trial("drop-policies", true, None, None),
            trial("drop-policies", true, None, None),
        ]);
        assert!(!r.ok());
        let k = &r.faults[0];
        assert_eq!(
            (k.trials, k.won, k.diagnosis_correct, k.false_tickets),
            (2, 1, 1, 1)
        );
        assert_eq!(k.mttd_ms.unwrap().max, 900);
        assert_eq!(k.mttr_ms.unwrap().median, 3_000);
        let v = serde_json::to_value(&r).unwrap();
        let keys = |o: &serde_json::Value| {
            let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&v), ["false_tickets", "faults", "settings"]);
        assert_eq!(
            keys(&v["faults"][0]),
            [
                "diagnosis_correct",
                "false_tickets",
                "fault",
                "mttd_ms",
                "mttr_ms",
                "trials",
                "won"
            ]
        );
        assert_eq!(keys(&v["faults"][0]["mttd_ms"]), ["max", "median", "p90"]);
        assert!(v["faults"][1]["mttr_ms"].is_null());
        let t = r.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(
            lines[3].contains("1/2") && lines[3].contains("400ms / 900ms / 900ms"),
            "{t}"
        );
        assert!(lines[4].contains("2/2") && lines[4].contains(" - "), "{t}");
        let md = r.markdown();
        assert!(md.contains("| kill-redis | 2 | 1/2 |"), "{md}");
    }

    #[test]
    fn a_run_is_ok_only_when_every_planned_trial_was_won() {
        let all = vec![
            trial("kill-redis", true, Some(400), Some(3_000)),
            trial("kill-redis", true, Some(500), Some(2_000)),
            trial("drop-policies", true, None, None),
            trial("drop-policies", true, None, None),
        ];
        assert!(report(all.clone()).ok());
        assert!(!report(all[..3].to_vec()).ok(), "a trial missing");
        let mut r = report(all.clone());
        r.false_tickets = 1;
        assert!(!r.ok(), "a false ticket in the soak");
        let mut r = report(all);
        r.stopped = Some("interrupted".into());
        assert!(!r.ok());
    }
}
