//! Progress bars on a terminal, silence everywhere else.
//!
//! Bars go to stderr and are shown only when stderr is a terminal and the command is not in
//! `--json` mode, so pipes, CI logs and machine-read output never see control characters.
//! Hidden bars cost next to nothing, so the commands create them unconditionally.

use std::io::IsTerminal;
use std::time::Duration;

use encore_core::progress::TrainingObserver;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw progress and print informational notes.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    bars: bool,
    notes: bool,
}

impl Ui {
    /// Bars when stderr is a terminal and `machine_output` is false; notes unless
    /// `machine_output` (warnings are always printed, see [`Ui::warn`]).
    pub fn for_terminal(machine_output: bool) -> Self {
        Self { bars: !machine_output && std::io::stderr().is_terminal(), notes: !machine_output }
    }

    /// A spinner with a message and the elapsed time, for work of unknown length (reading a
    /// file, a closed-form solve).
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = self.new_bar(None);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
                .expect("valid template"),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A bar counting `len` units with rate and ETA.
    pub fn counter(&self, len: u64, message: impl Into<String>, unit: &str) -> ProgressBar {
        let bar = self.new_bar(Some(len));
        let template =
            format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})");
        bar.set_style(
            ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }

    /// Prints an informational line to stderr (suppressed in machine-output mode).
    pub fn note(&self, message: impl AsRef<str>) {
        if self.notes {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Prints a warning to stderr, always.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("warning: {}", message.as_ref());
    }

    fn new_bar(&self, len: Option<u64>) -> ProgressBar {
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        if !self.bars {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar
    }
}

/// A training observer that advances a bar by one per epoch and shows the last loss.
pub struct EpochBar {
    bar: ProgressBar,
    name: String,
}

impl EpochBar {
    /// A bar for training `name`; its length is set when training announces its epochs.
    pub fn new(ui: &Ui, name: &str) -> Self {
        let bar = ui.counter(0, format!("training {name}"), "epochs");
        Self { bar, name: name.to_string() }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl TrainingObserver for EpochBar {
    fn on_start(&self, epochs: usize) {
        self.bar.set_length(epochs as u64);
        self.bar.reset_eta();
    }

    fn on_epoch(&self, epoch: usize, loss: Option<f64>) {
        self.bar.set_position(epoch as u64);
        if let Some(loss) = loss {
            self.bar.set_message(format!("training {} (loss {loss:.4})", self.name));
        }
    }
}
