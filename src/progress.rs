//! Progress reporting for `kiln build`. On a terminal: an indicatif display with one line per
//! target, its stage, the time since it started (frozen when it ends) and, while nix builds, the
//! last line of the build log nix prints with `-L` (`<drv-name>> line`) for that target, or for a
//! dependency it waits on. Otherwise (not a terminal, `TERM=dumb`, `--json`): plain
//! `kiln: <target>: <stage>` lines on stderr, the last one with the elapsed time. `NO_COLOR`
//! turns the dimmed parts plain. Stdout is left for the final report (`--json` or the summary).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::nix::log::{drv_name, log_line, log_prefix};

/// Where a target is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Evaluating the flake attribute.
    Evaluating,
    /// nix is building it.
    Building,
    /// nix is rebuilding it to compare bytes.
    CheckingReproducible,
    /// kiln is checking its binaries.
    Verifying,
    /// Running the smoke command.
    Smoke,
    /// Being written into the archive.
    Exporting,
    /// Finished well.
    Done,
    /// Finished badly.
    Failed,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Evaluating => "evaluating",
            Stage::Building => "building",
            Stage::CheckingReproducible => "checking reproducibility",
            Stage::Verifying => "verifying",
            Stage::Smoke => "smoke run",
            Stage::Exporting => "exporting",
            Stage::Done => "done",
            Stage::Failed => "failed",
        }
    }
}

/// What one target's line shows.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    /// The derivation name its log lines carry, once evaluated.
    drv: Option<String>,
    stage: Option<Stage>,
    detail: String,
    /// The last build log line seen for it (its own, or `dep> text` of a dependency).
    log: Option<String>,
    started: Instant,
    took: Option<Duration>,
}

impl Row {
    /// The text after the target's name: `stage[: detail][  │ log]`.
    fn message(&self) -> String {
        let mut text = self.stage.map_or("", Stage::label).to_owned();
        if !self.detail.is_empty() {
            text = format!("{text}: {}", self.detail);
        }
        if let (Some(log), Some(Stage::Building | Stage::CheckingReproducible)) = (&self.log, self.stage) {
            text = format!("{text}  | {log}");
        }
        text
    }
}

/// `1.2s`, `42s`, `3m07s`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// How the display is drawn.
enum Display {
    /// indicatif bars on a terminal.
    Bars(MultiProgress, Vec<ProgressBar>),
    /// Plain lines on stderr.
    Lines,
    /// Nothing drawn (tests of the state).
    #[cfg(test)]
    Hidden,
}

/// One progress display for a set of targets.
pub struct Progress {
    display: Display,
    rows: Vec<Row>,
}

impl Progress {
    /// Bars on a terminal stderr (unless `plain`), lines otherwise.
    pub fn new(names: Vec<String>, plain: bool) -> Progress {
        let tty = !plain
            && std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb");
        let rows = Self::rows(names);
        let display = if tty {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
            let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let time = if color { "{elapsed:>5.dim}" } else { "{elapsed:>5}" };
            let style = ProgressStyle::with_template(&format!(
                "{{spinner}} {{prefix:<{width}}} {time}  {{wide_msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = rows
                .iter()
                .map(|r| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(r.name.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .collect();
            Display::Bars(multi, bars)
        } else {
            Display::Lines
        };
        Progress { display, rows }
    }

    fn rows(names: Vec<String>) -> Vec<Row> {
        let now = Instant::now();
        names
            .into_iter()
            .map(|name| Row {
                name,
                drv: None,
                stage: None,
                detail: String::new(),
                log: None,
                started: now,
                took: None,
            })
            .collect()
    }

    #[cfg(test)]
    fn hidden(names: Vec<String>) -> Progress {
        Progress {
            display: Display::Hidden,
            rows: Self::rows(names),
        }
    }

    /// Target `i`'s derivation, once evaluated: its build log lines are then shown on its line.
    pub fn set_drv(&mut self, i: usize, drv_path: &str) {
        if let Some(r) = self.rows.get_mut(i) {
            r.drv = drv_name(drv_path).map(str::to_owned);
        }
    }

    /// A line of nix's stderr during `stage`: a line naming a target's derivation moves it to
    /// `stage`; a build log line (`name> text`) becomes the last log line of the target it
    /// belongs to or, for a dependency, of every target still at `stage`.
    pub fn nix_line(&mut self, line: &str, stage: Stage) {
        for i in 0..self.rows.len() {
            let named = self.rows[i]
                .drv
                .as_ref()
                .is_some_and(|d| log_line(line).is_none() && line.contains(&format!("-{d}.drv")));
            if named {
                self.set(i, stage, "");
            }
        }
        let Some((name, text)) = log_line(line) else {
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        let own = self
            .rows
            .iter()
            .position(|r| r.drv.as_deref().map(log_prefix) == Some(name));
        let mut changed = Vec::new();
        for (i, r) in self.rows.iter_mut().enumerate() {
            if own == Some(i) {
                r.log = Some(text.to_owned());
            } else if own.is_none() && r.stage == Some(stage) {
                r.log = Some(format!("{name}> {text}"));
            } else {
                continue;
            }
            changed.push(i);
        }
        for i in changed {
            self.redraw(i);
        }
    }

    /// Moves target `i` to `stage`, with an optional detail.
    pub fn set(&mut self, i: usize, stage: Stage, detail: &str) {
        let Some(r) = self.rows.get_mut(i) else {
            return;
        };
        if r.stage == Some(stage) && detail.is_empty() {
            return;
        }
        if r.stage != Some(stage) {
            r.log = None;
        }
        r.stage = Some(stage);
        detail.clone_into(&mut r.detail);
        let end = matches!(stage, Stage::Done | Stage::Failed);
        if end {
            r.took = Some(r.started.elapsed());
        }
        match &self.display {
            Display::Bars(_, bars) => {
                if let Some(b) = bars.get(i) {
                    b.set_message(r.message());
                    if end {
                        b.finish();
                    }
                }
            }
            Display::Lines => {
                let took = r.took.filter(|_| end).map(|d| format!(" ({})", elapsed(d)));
                crate::stderr_line(&format!(
                    "kiln: {}: {}{}",
                    r.name,
                    r.message(),
                    took.unwrap_or_default()
                ));
            }
            #[cfg(test)]
            Display::Hidden => {}
        }
    }

    /// Draws target `i`'s line again (bars only: plain lines carry no build log).
    fn redraw(&self, i: usize) {
        if let (Display::Bars(_, bars), Some(r)) = (&self.display, self.rows.get(i))
            && let Some(b) = bars.get(i)
            && !b.is_finished()
        {
            b.set_message(r.message());
        }
    }

    /// Moves every target to `stage`.
    pub fn set_all(&mut self, stage: Stage) {
        for i in 0..self.rows.len() {
            self.set(i, stage, "");
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Bars(multi, _) => {
                let _ = multi.println(line);
            }
            Display::Lines => crate::stderr_line(line),
            #[cfg(test)]
            Display::Hidden => {}
        }
    }

    /// Removes the display.
    pub fn finish(&self) {
        if let Display::Bars(multi, bars) = &self.display {
            for b in bars {
                if !b.is_finished() {
                    b.finish();
                }
            }
            let _ = multi.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::nix::log::recorded;

    const DRV: &str =
        "/nix/store/3lvpqci15sazfwkckzjfjcpjv4wrh7fs-fixture-aarch64-unknown-linux-gnu-1.2.3.drv";

    // issue 17 item 11: the last build log line of recorded `nix build -L` stderr (Nix 2.8 and
    // 2.26) is shown on the target's line while it builds, and the elapsed time is kept at its end.
    #[test]
    fn issue17_progress_shows_last_build_log_line() {
        for v in ["2.8", "2.26"] {
            let mut p = Progress::hidden(vec!["aarch64-gnu".into(), "x86_64-gnu".into()]);
            p.set_drv(0, DRV);
            p.set_drv(
                1,
                "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-fixture-x86_64-unknown-linux-gnu-1.2.3.drv",
            );
            p.set_all(Stage::Building);
            for line in recorded(v, "build-log-failed").lines() {
                p.nix_line(line, Stage::Building);
            }
            assert_eq!(p.rows[0].message(), "building  | 1 error generated.", "{v}");
            // Another target's log is not shown on this one.
            assert_eq!(p.rows[1].message(), "building", "{v}");
            p.set(0, Stage::Failed, "build failed");
            assert_eq!(p.rows[0].message(), "failed: build failed");
            assert!(p.rows[0].took.is_some() && p.rows[1].took.is_none());
        }
    }

    #[test]
    fn dependency_logs_show_on_waiting_targets() {
        let mut p = Progress::hidden(vec!["a".into()]);
        p.set_drv(0, DRV);
        p.set_all(Stage::Building);
        p.nix_line("kiln-zig-libc-x86_64> unpacking", Stage::Building);
        assert_eq!(p.rows[0].message(), "building  | kiln-zig-libc-x86_64> unpacking");
        assert_eq!(elapsed(Duration::from_millis(1234)), "1.2s");
        assert_eq!(elapsed(Duration::from_secs(187)), "3m07s");
    }
}
