//! Everything skiff tells the user while it works. All of it goes to stderr, so stdout
//! carries only what a command is asked to print.
//!
//! On a terminal each blob gets a progress bar; otherwise skopeo's plain lines are printed
//! ("Copying blob sha256:…"), plus a "done" line per blob so CI logs show progress.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;

#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

struct Inner {
    quiet: bool,
    debug: bool,
    bars: Option<MultiProgress>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reporter {{ quiet: {}, debug: {} }}",
            self.inner.quiet, self.inner.debug
        )
    }
}

impl Default for Reporter {
    fn default() -> Reporter {
        Reporter::silent()
    }
}

impl Reporter {
    /// `quiet` silences progress (not warnings or errors); `debug` enables debug lines.
    pub fn new(quiet: bool, debug: bool) -> Reporter {
        let tty = std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb");
        let bars = (tty && !quiet && !debug)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            inner: Arc::new(Inner { quiet, debug, bars }),
        }
    }

    /// A reporter that prints nothing (library use, tests).
    pub fn silent() -> Reporter {
        Reporter {
            inner: Arc::new(Inner {
                quiet: true,
                debug: false,
                bars: None,
            }),
        }
    }

    fn print(&self, line: &str) {
        let line = &*escape_controls(line);
        match &self.inner.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        }
    }

    /// A progress line such as "Writing manifest to image destination".
    pub fn step(&self, line: &str) {
        if !self.inner.quiet {
            self.print(line);
        }
    }

    pub fn warn(&self, line: &str) {
        self.print(&format!("Warning: {line}"));
    }

    pub fn debug(&self, line: impl FnOnce() -> String) {
        if self.inner.debug {
            self.print(&format!("DEBU {}", line()));
        }
    }

    /// A blob the destination already had ("Copying blob sha256:… skipped: already exists").
    pub fn blob_skipped(&self, kind: &'static str, digest: &Digest) {
        self.step(&format!("Copying {kind} {digest} skipped: already exists"));
    }

    /// Starts reporting one blob; `kind` is "blob" or "config".
    pub fn blob(&self, kind: &'static str, digest: &Digest, size: Option<u64>) -> BlobProgress {
        let label = format!("Copying {kind} {digest}");
        if self.inner.quiet {
            return BlobProgress {
                reporter: self.clone(),
                label,
                bar: None,
            };
        }
        let bar = match &self.inner.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new(size.unwrap_or(0)));
                let style = ProgressStyle::with_template(
                    "{prefix} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                let short = digest.hex().get(..12).unwrap_or(digest.hex());
                bar.set_prefix(format!(
                    "Copying {kind} {}:{short}",
                    digest.algorithm().name()
                ));
                bar.enable_steady_tick(Duration::from_millis(200));
                Some(bar)
            }
            None => {
                self.print(&label);
                None
            }
        };
        BlobProgress {
            reporter: self.clone(),
            label,
            bar,
        }
    }
}

/// Progress of one blob. Dropped without `done`, its bar is abandoned.
pub struct BlobProgress {
    reporter: Reporter,
    label: String,
    bar: Option<ProgressBar>,
}

impl BlobProgress {
    /// A callback that counts bytes as they stream.
    pub fn counter(&self) -> impl Fn(&[u8]) + Send + Sync + 'static {
        let bar = self.bar.clone();
        move |chunk: &[u8]| {
            if let Some(b) = &bar {
                b.inc(chunk.len() as u64);
            }
        }
    }

    pub fn done(self) {
        match &self.bar {
            Some(bar) => bar.finish_with_message("done"),
            None => self.reporter.step(&format!("{} done", self.label)),
        }
    }
}

/// Writes what a command was asked to print (inspect's JSON, a digest, a tag list) to
/// stdout, flushed, so nothing else ever reaches stdout.
pub fn output(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// A status line of an interactive command ("Authenticating with existing credentials…"):
/// stderr, never stdout.
pub fn status(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", escape_controls(line));
}

/// `text` with control characters (other than newline and tab) written as escapes, so
/// nothing that came from outside (a registry's error body, a file name) can drive the
/// terminal: ESC sequences, carriage returns that overwrite a line, bells.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A prompt ("Username: "), on stderr without a newline so the answer follows it.
pub fn prompt(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_but_lines_kept() {
        assert_eq!(
            escape_controls("bad\x1b[31mred\r\x07\u{9b}x\nnext\tline"),
            "bad\\u{1b}[31mred\\u{d}\\u{7}\\u{9b}x\nnext\tline"
        );
        assert!(matches!(
            escape_controls("plain text"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
