//! Progress reporting for `kiln build`: an indicatif display with one line per target on a
//! terminal, plain `kiln: <target>: <stage>` lines on stderr otherwise. Stdout is left for the
//! final report (`--json` or the summary).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// One progress display for a set of targets.
pub struct Progress {
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    names: Vec<String>,
    last: Vec<Option<Stage>>,
}

impl Progress {
    /// Bars on a terminal stderr (unless `plain`), lines otherwise.
    pub fn new(names: Vec<String>, plain: bool) -> Progress {
        let tty = !plain
            && std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb");
        let bars = tty.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = names.iter().map(String::len).max().unwrap_or(0);
            let style = ProgressStyle::with_template(&format!("{{spinner}} {{prefix:<{width}}}  {{msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(n.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .collect();
            (multi, bars)
        });
        let last = vec![None; names.len()];
        Progress { bars, names, last }
    }

    /// Moves target `i` to `stage`, with an optional detail.
    pub fn set(&mut self, i: usize, stage: Stage, detail: &str) {
        if self.last.get(i) == Some(&Some(stage)) && detail.is_empty() {
            return;
        }
        if let Some(slot) = self.last.get_mut(i) {
            *slot = Some(stage);
        }
        let text = if detail.is_empty() {
            stage.label().to_owned()
        } else {
            format!("{}: {detail}", stage.label())
        };
        match &self.bars {
            Some((_, bars)) => {
                if let Some(b) = bars.get(i) {
                    b.set_message(text);
                    if matches!(stage, Stage::Done | Stage::Failed) {
                        b.finish();
                    }
                }
            }
            None => crate::stderr_line(&format!(
                "kiln: {}: {text}",
                self.names.get(i).map_or("?", String::as_str)
            )),
        }
    }

    /// Moves every target to `stage`.
    pub fn set_all(&mut self, stage: Stage) {
        for i in 0..self.names.len() {
            self.set(i, stage, "");
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => crate::stderr_line(line),
        }
    }

    /// Removes the display.
    pub fn finish(&self) {
        if let Some((multi, bars)) = &self.bars {
            for b in bars {
                if !b.is_finished() {
                    b.finish();
                }
            }
            let _ = multi.clear();
        }
    }
}
