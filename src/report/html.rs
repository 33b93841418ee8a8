//! `csp-onboard report --journal J --out report.html`: one self-contained page a distributor
//! opens, prints or forwards — no script, style sheet, font or image from anywhere else
//! (CONTRACTS.md "Run report").
//!
//! What it shows, all read from the journal: the totals; the requests of each run over time
//! against the run's rate limit (an inline SVG, one bar per limit window, throttled requests in
//! red); the outcomes per reseller with the reseller's name; the attestations; the rows that need
//! attention, each with its error and what to do; the run history.
//!
//! [`Report`] is the data, computed by [`Report::load`] and tested on its own; [`render`] only
//! lays it out. Every text from the journal (company names come from a sheet) is escaped by maud.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use rusqlite::Connection;

use crate::journal::queries::{self, ResultRow, RunInfo, StatusReport};
use crate::rate::RateSetting;

/// Rows needing attention listed one by one; past this, counted.
const LISTED_ROWS: usize = 1000;
/// Bars in one run's chart at most: windows are merged beyond it.
const MAX_BARS: usize = 240;

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub journal: String,
    pub generated: String,
    pub status: StatusReport,
    pub charts: Vec<RunChart>,
    pub attention: Vec<Attention>,
    /// Rows needing attention beyond [`LISTED_ROWS`].
    pub more_attention: usize,
}

/// One run's requests over time.
#[derive(Debug, Clone, PartialEq)]
pub struct RunChart {
    pub run: i64,
    /// The width of a bar in seconds (the limit's window, or several merged).
    pub bucket_s: f64,
    /// The most requests the limit allows in one bar; `None` when the run ran with `off`.
    pub limit: Option<u32>,
    /// Per bar: requests started in it, and of those the ones answered 429.
    pub bars: Vec<(u32, u32)>,
}

impl RunChart {
    pub fn total(&self) -> u32 {
        self.bars.iter().map(|b| b.0).sum()
    }

    pub fn busiest(&self) -> u32 {
        self.bars.iter().map(|b| b.0).max().unwrap_or(0)
    }
}

/// A row that needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub row: i64,
    pub domain: String,
    pub company: String,
    pub reseller: String,
    pub state: String,
    pub error: String,
    pub what_to_do: String,
}

/// What to do about a row, from its state and flags (a pure function: tested by table).
pub fn what_to_do(row: &ResultRow, journal: &str) -> Option<String> {
    let resume = format!("`csp-onboard resume --journal {journal}` finishes it");
    Some(match row.state.as_str() {
        "invalid" => "correct the row in the sheet; the next run sends it".into(),
        "failed" => format!(
            "correct the row (a changed row is sent again), or once dealt with: `csp-onboard ack --journal {journal} --rows {}`",
            row.row
        ),
        "pending" | "retry_wait" | "in_flight" | "in_doubt" => resume,
        "created" if row.credentials_lost => format!(
            "the admin password was lost: `csp-onboard recover-credentials --journal {journal}` sets a new one"
        ),
        _ => return None,
    })
}

impl Report {
    pub fn load(conn: &Connection, journal: &str) -> Result<Report, rusqlite::Error> {
        let status = queries::status(conn)?;
        let mut attention = Vec::new();
        let mut more_attention = 0;
        let names: BTreeMap<String, String> = status
            .by_reseller
            .iter()
            .filter_map(|(id, counts)| Some((id.clone(), counts.name.clone()?)))
            .collect();
        for row in queries::results(conn)? {
            let Some(what) = what_to_do(&row, journal) else {
                continue;
            };
            if attention.len() == LISTED_ROWS {
                more_attention += 1;
                continue;
            }
            let reseller = row.associated_partner_id.clone().unwrap_or_default();
            let error = match (&row.error_code, &row.error_message) {
                (Some(code), Some(message)) => format!("{message} ({code})"),
                (None, Some(message)) => message.clone(),
                (Some(code), None) => code.clone(),
                (None, None) if row.credentials_lost => "password lost".into(),
                (None, None) => String::new(),
            };
            attention.push(Attention {
                row: row.row,
                domain: row.domain.unwrap_or_default(),
                company: row.company_name.unwrap_or_default(),
                reseller: names.get(&reseller).cloned().unwrap_or(reseller),
                state: row.state,
                error,
                what_to_do: what,
            });
        }
        let charts = status
            .runs
            .iter()
            .filter(|run| run.requests > 0)
            .map(|run| run_chart(conn, run))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(Report {
            journal: journal.to_string(),
            generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status,
            charts,
            attention,
            more_attention,
        })
    }
}

fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

fn run_chart(conn: &Connection, run: &RunInfo) -> Result<Option<RunChart>, rusqlite::Error> {
    let options: String =
        conn.query_row("SELECT options FROM runs WHERE id = ?1", [run.id], |r| {
            r.get(0)
        })?;
    let rate = serde_json::from_str::<serde_json::Value>(&options)
        .ok()
        .and_then(|o| o["rate_limit"].as_str().map(str::to_owned))
        .and_then(|r| r.parse::<RateSetting>().ok())
        .unwrap_or_default();
    let mut statement =
        conn.prepare("SELECT started, http_status FROM attempts WHERE run_id = ?1 ORDER BY id")?;
    let attempts: Vec<(DateTime<FixedOffset>, Option<i64>)> = statement
        .query_map([run.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?
        .filter_map(|a| {
            let (started, status) = a.ok()?;
            Some((parse_time(&started)?, status))
        })
        .collect();
    let Some(first) = attempts.iter().map(|a| a.0).min() else {
        return Ok(None);
    };
    let (window_s, limit) = match rate {
        RateSetting::Limit(limit) => (limit.period.as_secs_f64(), Some(limit.requests)),
        RateSetting::Off => (60.0, None),
    };
    let span_s = attempts
        .iter()
        .map(|a| (a.0 - first).as_seconds_f64())
        .fold(0.0, f64::max);
    let windows = (span_s / window_s).floor() as usize + 1;
    let merge = windows.div_ceil(MAX_BARS).max(1);
    let bucket_s = window_s * merge as f64;
    let mut bars = vec![(0u32, 0u32); windows.div_ceil(merge)];
    let last = bars.len() - 1;
    for (started, status) in &attempts {
        let at = ((*started - first).as_seconds_f64() / bucket_s).floor() as usize;
        let bar = &mut bars[at.min(last)];
        bar.0 += 1;
        if *status == Some(429) {
            bar.1 += 1;
        }
    }
    Ok(Some(RunChart {
        run: run.id,
        bucket_s,
        limit: limit.map(|l| l * merge as u32),
        bars,
    }))
}

/// The page.
pub fn render(report: &Report) -> String {
    let status = &report.status;
    let rows: i64 = status.rows.values().sum();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "csp-onboard report — " (report.journal) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Onboarding report" }
                    p.meta {
                        "Journal " code { (report.journal) } " · generated " (report.generated)
                    }
                }
                section #totals {
                    h2 { "Rows" }
                    div.cards {
                        (card("rows", rows, ""))
                        @for (state, count) in &status.rows {
                            (card(state, *count, state))
                        }
                        (card("already existed", status.already_existed, ""))
                        (card("passwords lost", status.credentials_lost, if status.credentials_lost > 0 { "failed" } else { "" }))
                        (card("acknowledged", status.acknowledged, ""))
                    }
                }
                section #requests {
                    h2 { "Requests over time" }
                    @if report.charts.is_empty() {
                        p { "No request has been sent yet." }
                    }
                    @for chart in &report.charts {
                        (chart_svg(chart))
                    }
                }
                section #resellers {
                    h2 { "Outcomes per reseller" }
                    table {
                        thead { tr { th { "Reseller" } th { "Tenant id" } th.n { "Created" } th.n { "Failed" } th.n { "Invalid" } } }
                        tbody {
                            @for (id, counts) in &status.by_reseller {
                                tr {
                                    td { (counts.name.as_deref().unwrap_or("(name not listed)")) }
                                    td { code { (id) } }
                                    td.n { (counts.created) }
                                    td.n.failed[counts.failed > 0] { (counts.failed) }
                                    td.n.invalid[counts.invalid > 0] { (counts.invalid) }
                                }
                            }
                        }
                    }
                }
                section #attestation {
                    h2 { "Microsoft Customer Agreement" }
                    p {
                        (status.attestations.attested) " attested, "
                        (status.attestations.pending) " pending, "
                        (status.attestations.failed) " failed."
                    }
                }
                section #attention {
                    h2 { "Rows that need attention (" (report.attention.len() + report.more_attention) ")" }
                    @if report.attention.is_empty() {
                        p { "None: every row is done." }
                    } @else {
                        table {
                            thead { tr { th.n { "Row" } th { "Domain" } th { "Company" } th { "Reseller" } th { "State" } th { "Error" } th { "What to do" } } }
                            tbody {
                                @for row in &report.attention {
                                    tr {
                                        td.n { (row.row) }
                                        td { (row.domain) }
                                        td { (row.company) }
                                        td { (row.reseller) }
                                        td { span class={ "state " (row.state) } { (row.state) } }
                                        td { (row.error) }
                                        td { (row.what_to_do) }
                                    }
                                }
                            }
                        }
                        @if report.more_attention > 0 {
                            p { "… and " (report.more_attention) " more: the results export (`csp-onboard export --out results.xlsx`) lists them all." }
                        }
                    }
                }
                section #runs {
                    h2 { "Run history" }
                    table {
                        thead { tr { th.n { "Run" } th { "Started" } th { "Finished" } th { "Sheet" } th.n { "Requests" } th.n { "Created" } th.n { "Failed" } th.n { "Throttled" } th.n { "Creates/min" } } }
                        tbody {
                            @for run in &status.runs {
                                tr {
                                    td.n { (run.id) }
                                    td { (run.started) }
                                    td { (run.finished.as_deref().unwrap_or("(interrupted)")) }
                                    td { (run.sheet.as_deref().unwrap_or("")) }
                                    td.n { (run.requests) }
                                    td.n { (run.created) }
                                    td.n { (run.failed) }
                                    td.n { (run.throttled) }
                                    td.n { (run.creates_per_min.map(|r| format!("{r:.1}")).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

fn card(label: &str, value: i64, class: &str) -> Markup {
    html! {
        div class={ "card " (class) } {
            span.value { (value) }
            span.label { (label) }
        }
    }
}

fn chart_svg(chart: &RunChart) -> Markup {
    const WIDTH: f64 = 720.0;
    const HEIGHT: f64 = 180.0;
    let top = chart.limit.unwrap_or(0).max(chart.busiest()).max(1) as f64 * 1.1;
    let bar_w = WIDTH / chart.bars.len() as f64;
    let y = |n: f64| HEIGHT - n / top * HEIGHT;
    let seconds = chart.bucket_s;
    let window = if seconds >= 60.0 && (seconds % 60.0) == 0.0 {
        format!("{} min", seconds / 60.0)
    } else {
        format!("{seconds} s")
    };
    let throttled: u32 = chart.bars.iter().map(|b| b.1).sum();
    html! {
        figure {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 20.0) } role="img"
                aria-label={ "Run " (chart.run) ": requests per " (window) } {
                @for (i, (all, refused)) in chart.bars.iter().enumerate() {
                    rect.bar x=(format!("{:.2}", i as f64 * bar_w)) y=(format!("{:.2}", y(*all as f64)))
                        width=(format!("{:.2}", (bar_w - 1.0).max(0.5))) height=(format!("{:.2}", HEIGHT - y(*all as f64))) {}
                    @if *refused > 0 {
                        rect.throttled x=(format!("{:.2}", i as f64 * bar_w)) y=(format!("{:.2}", y(*refused as f64)))
                            width=(format!("{:.2}", (bar_w - 1.0).max(0.5))) height=(format!("{:.2}", HEIGHT - y(*refused as f64))) {}
                    }
                }
                @if let Some(limit) = chart.limit {
                    line.limit x1="0" x2=(WIDTH) y1=(format!("{:.2}", y(limit as f64))) y2=(format!("{:.2}", y(limit as f64))) {}
                    text.axis x="4" y=(format!("{:.2}", y(limit as f64) - 4.0)) { "limit " (limit) " per " (window) }
                }
                text.axis x="4" y=(HEIGHT + 16.0) { "0" }
                text.axis x=(WIDTH - 4.0) y=(HEIGHT + 16.0) text-anchor="end" { (format!("{:.0}", seconds * chart.bars.len() as f64)) " s" }
            }
            figcaption {
                "Run " (chart.run) ": " (chart.total()) " requests, one bar per " (window)
                "; the busiest " (chart.busiest())
                @if let Some(limit) = chart.limit { " against a limit of " (limit) }
                "; " (throttled) " answered 429."
            }
        }
    }
}

const STYLE: &str = r#"
:root { --ink: #1b1f24; --muted: #59636e; --line: #d0d7de; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --bar: #0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK TC", sans-serif; color: var(--ink); margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0; } h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
.meta { color: var(--muted); margin: .2rem 0 0; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; min-width: 8rem; }
.card .value { display: block; font-size: 1.4rem; font-weight: 600; } .card .label { color: var(--muted); }
.card.created .value { color: var(--ok); } .card.failed .value, .card.in_doubt .value { color: var(--bad); } .card.invalid .value { color: var(--warn); }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f6f8fa; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.failed { color: var(--bad); font-weight: 600; } td.invalid { color: var(--warn); font-weight: 600; }
.state { border-radius: 10px; padding: 0 .45rem; border: 1px solid var(--line); white-space: nowrap; }
.state.failed, .state.in_doubt { color: var(--bad); border-color: var(--bad); } .state.invalid { color: var(--warn); border-color: var(--warn); }
figure { margin: 0 0 1.2rem; } svg { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.bar { fill: var(--bar); } .throttled { fill: var(--bad); } .limit { stroke: var(--bad); stroke-dasharray: 6 4; stroke-width: 1.5; }
.axis { font-size: 11px; fill: var(--muted); } figcaption { color: var(--muted); }
code { font-size: .92em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; } tr, figure { break-inside: avoid; }
  th { background: none; } .card { border-color: #999; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, lost: bool) -> ResultRow {
        ResultRow {
            row: 7,
            domain: None,
            company_name: None,
            associated_partner_id: None,
            external_id: None,
            state: state.into(),
            customer_id: None,
            commerce_id: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            credentials_lost: lost,
            changed_after_creation: false,
            already_existed: false,
            mca_attested: false,
        }
    }

    #[test]
    fn what_to_do_follows_the_state() {
        let j = "j.sqlite";
        for (state, lost, expected) in [
            (
                "invalid",
                false,
                Some("correct the row in the sheet; the next run sends it"),
            ),
            (
                "failed",
                false,
                Some(
                    "correct the row (a changed row is sent again), or once dealt with: `csp-onboard ack --journal j.sqlite --rows 7`",
                ),
            ),
            (
                "in_doubt",
                false,
                Some("`csp-onboard resume --journal j.sqlite` finishes it"),
            ),
            (
                "pending",
                false,
                Some("`csp-onboard resume --journal j.sqlite` finishes it"),
            ),
            (
                "created",
                true,
                Some(
                    "the admin password was lost: `csp-onboard recover-credentials --journal j.sqlite` sets a new one",
                ),
            ),
            ("created", false, None),
        ] {
            assert_eq!(
                what_to_do(&row(state, lost), j).as_deref(),
                expected,
                "{state}"
            );
        }
    }

    #[test]
    fn journal_text_is_escaped() {
        let chart = RunChart {
            run: 1,
            bucket_s: 60.0,
            limit: Some(500),
            bars: vec![(10, 0), (500, 2)],
        };
        let mut report = Report {
            journal: "<j>".into(),
            generated: "now".into(),
            status: StatusReport {
                rows: BTreeMap::new(),
                credentials_lost: 0,
                changed_after_creation: 0,
                throttled: 0,
                acknowledged: 0,
                already_existed: 0,
                attestations: Default::default(),
                by_reseller: BTreeMap::new(),
                runs: Vec::new(),
            },
            charts: vec![chart],
            attention: Vec::new(),
            more_attention: 0,
        };
        report.attention.push(Attention {
            row: 2,
            domain: "x.onmicrosoft.com".into(),
            company: "<script>alert(1)</script>".into(),
            reseller: "r".into(),
            state: "failed".into(),
            error: "e".into(),
            what_to_do: "w".into(),
        });
        let page = render(&report);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("limit 500 per 1 min"));
        assert!(page.contains("510 requests"));
        assert!(page.contains("2 answered 429"));
    }
}
