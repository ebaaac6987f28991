//! The selected capture, worked out once for the detail pane's tabs: the body rendered, the
//! headers, the signature's explanation and the deliveries, each as sanitized lines.

use std::io;
use std::sync::Arc;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::analysis::Analyzer;
use crate::attempt::{Attempt, Outcome};
use crate::capture::Capture;
use crate::sanitize;

use super::app::Context;
use super::body;

/// The detail of one capture.
pub struct Detail {
    /// The store index it is the detail of.
    pub row: usize,
    /// The capture, when it could be read.
    pub capture: Option<Arc<Capture>>,
    /// A one-line description of the body.
    pub body_summary: String,
    tabs: [Vec<Line<'static>>; 4],
}

const LABEL: Style = Style::new().fg(Color::DarkGray);

impl Detail {
    /// Works out the detail of row `row`, whose capture was read as `capture`.
    pub fn build(
        row: usize,
        capture: Result<Arc<Capture>, &io::Error>,
        attempts: &[Arc<Attempt>],
        analyzer: &Analyzer,
        context: &Context,
    ) -> Self {
        let capture = match capture {
            Ok(capture) => capture,
            Err(err) => {
                let line = Line::styled(
                    format!(
                        "cannot read this capture back from the journal: {}",
                        sanitize::line(&err.to_string())
                    ),
                    Style::new().fg(Color::Red),
                );
                return Self {
                    row,
                    capture: None,
                    body_summary: String::new(),
                    tabs: [
                        vec![line.clone()],
                        vec![line.clone()],
                        vec![line.clone()],
                        vec![line],
                    ],
                };
            }
        };
        let rendered = body::render(&capture.body, capture.content_type().as_deref());
        let mut body_lines = request_line(&capture);
        body_lines.extend(rendered.lines);
        Self {
            row,
            body_summary: rendered.summary,
            tabs: [
                body_lines,
                headers(&capture),
                signature(&capture, analyzer),
                deliveries(attempts, context),
            ],
            capture: Some(capture),
        }
    }

    /// The lines of tab `tab`.
    pub fn lines(&self, tab: usize) -> &[Line<'static>] {
        self.tabs.get(tab).map_or(&[], |t| t.as_slice())
    }
}

fn request_line(capture: &Capture) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(
            sanitize::line(&capture.method).into_owned(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::raw(sanitize::line(&capture.target()).into_owned()),
        Span::styled(
            format!(
                "  {}  from {}{}  answered {}",
                sanitize::line(&capture.version),
                sanitize::line(&capture.remote_addr),
                match &capture.via {
                    crate::capture::Via::Direct => String::new(),
                    via => format!(" via {}", sanitize::line(&via.to_string())),
                },
                capture.status
            ),
            LABEL,
        ),
    ])];
    if let Some(note) = &capture.note {
        lines.push(Line::styled(
            format!("note: {}", sanitize::line(note)),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(handshake) = &capture.derived.handshake {
        lines.push(Line::styled(
            format!("handshake: {}", sanitize::line(handshake)),
            Style::new().fg(Color::Cyan),
        ));
    }
    lines.push(Line::raw(""));
    lines
}

fn headers(capture: &Capture) -> Vec<Line<'static>> {
    if capture.headers.is_empty() {
        return vec![Line::styled("(no headers)", LABEL)];
    }
    capture
        .headers
        .iter()
        .map(|h| {
            Line::from(vec![
                Span::styled(sanitize::line(&h.name).into_owned(), Style::new().fg(Color::Cyan)),
                Span::styled(": ", LABEL),
                Span::raw(sanitize::bytes_line(&h.value)),
            ])
        })
        .collect()
}

/// The colour of a verdict.
pub fn verdict_style(label: &str) -> Style {
    match label {
        "valid" => Style::new().fg(Color::Green),
        "invalid" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "stale" => Style::new().fg(Color::Yellow),
        "unsigned" => Style::new().fg(Color::Magenta),
        _ => Style::new().fg(Color::DarkGray),
    }
}

fn signature(capture: &Capture, analyzer: &Analyzer) -> Vec<Line<'static>> {
    let (derived, verification) = analyzer.analyze(capture);
    let Some(verification) = verification else {
        return vec![
            Line::styled(
                "No provider recognised.",
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Line::raw(""),
            Line::raw("No profile's headers match this request, and no route in hookscope.toml names"),
            Line::raw("a provider for its path. Add a route ([[routes]] path = \"/hooks/*\","),
            Line::raw("provider = \"aioz\") or a profile of your own (`hookscope providers`)."),
        ];
    };
    let label = verification.verdict.label();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} {label}", crate::headless::verdict_symbol(label)),
            verdict_style(label),
        ),
        Span::styled(
            format!(
                "   {} {}",
                derived.provider.as_deref().unwrap_or_default(),
                sanitize::line(derived.event_type.as_deref().unwrap_or_default())
            ),
            LABEL,
        ),
    ])];
    if let Some(journaled) = capture.derived.verdict.as_deref()
        && journaled != label
    {
        lines.push(Line::styled(
            format!("(journaled as {journaled} when it arrived; the keys configured now say {label})"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(caveat) = &verification.explanation.caveat {
        lines.push(Line::styled(
            format!("⚠ {}", sanitize::line(caveat)),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    lines.push(Line::raw(""));
    for (name, value) in verification.explanation.lines() {
        lines.push(Line::from(vec![
            Span::styled(format!("{name:<10} "), LABEL),
            Span::raw(sanitize::line(&value).into_owned()),
        ]));
    }
    lines
}

fn deliveries(attempts: &[Arc<Attempt>], context: &Context) -> Vec<Line<'static>> {
    if attempts.is_empty() {
        return match &context.forward {
            None => vec![
                Line::styled("No deliveries.", Style::new().add_modifier(Modifier::BOLD)),
                Line::raw(""),
                Line::raw("Start with --forward http://127.0.0.1:3000 to deliver every capture to your"),
                Line::raw("app, or press r to replay this one; each attempt (status, latency, response)"),
                Line::raw("shows here."),
            ],
            Some(target) => vec![Line::raw(format!(
                "Not delivered to {} yet.",
                sanitize::line(target)
            ))],
        };
    }
    let mut lines = Vec::new();
    // Newest first: the one just made is what the developer is looking for.
    for attempt in attempts.iter().rev() {
        let time = attempt
            .started_at
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S%.3f");
        let verdict = match &attempt.outcome {
            Outcome::Response { status, .. } => Span::styled(
                format!("→ {status}"),
                match status {
                    200..=299 => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
                    _ => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                },
            ),
            Outcome::Failed(why) => Span::styled(
                format!("✗ {}", sanitize::line(why)),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        let retry = match attempt.number {
            1 => String::new(),
            n => format!(" (try {n})"),
        };
        lines.push(Line::from(vec![
            verdict,
            Span::styled(
                format!(
                    "  {} {time}{retry}  {:.1?}  ",
                    attempt.kind.name(),
                    attempt.latency
                ),
                LABEL,
            ),
            Span::raw(sanitize::line(&attempt.target).into_owned()),
        ]));
        if attempt.insecure {
            lines.push(Line::from(Span::styled(
                "  INSECURE: the certificate was not verified (--insecure)",
                Style::new().fg(Color::White).bg(Color::Red),
            )));
        }
        if let Outcome::Response {
            headers,
            body,
            truncated,
            ..
        } = &attempt.outcome
        {
            for h in headers {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("  {}", sanitize::line(&h.name)),
                        Style::new().fg(Color::Cyan),
                    ),
                    Span::styled(": ", LABEL),
                    Span::raw(sanitize::bytes_line(&h.value)),
                ]));
            }
            let content_type = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-type"))
                .map(|h| String::from_utf8_lossy(&h.value).into_owned());
            let shown = body::render(body, content_type.as_deref());
            lines.extend(shown.lines.into_iter().take(40).map(|mut line| {
                line.spans.insert(0, Span::raw("  "));
                line
            }));
            if *truncated {
                lines.push(Line::styled(
                    "  … the response body was cut at the forwarder's limit",
                    LABEL,
                ));
            }
        }
        lines.push(Line::raw(""));
    }
    lines
}
