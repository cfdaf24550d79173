//! Terminal concerns: whether to colour, and the few styles kiln uses.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// Styling decided once per run.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour for `choice`, honouring `NO_COLOR` (any non-empty value) for `auto`.
    pub fn new(choice: ColorChoice) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        };
        Style { color }
    }

    /// No colour at all.
    pub fn plain() -> Style {
        Style { color: false }
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Success.
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Failure.
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Warnings.
    pub fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Headings.
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Secondary text.
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
}
