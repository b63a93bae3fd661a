//! How long-running work reports progress and learns that it was cancelled.
//!
//! The engine knows nothing of terminals or HTTP jobs: the CLI implements [`TrainingObserver`] with
//! a progress bar, the service with a job record that `GET /v1/jobs/{id}` reads.

/// Receives progress of training and evaluation; every method has a do-nothing default.
pub trait TrainingObserver: Sync {
    /// Called once before the first epoch with the number of epochs planned.
    fn on_start(&self, _epochs: usize) {}
    /// Called after each epoch (1-based), with the training loss when the model computes one.
    fn on_epoch(&self, _epoch: usize, _loss: Option<f64>) {}
    /// Polled between units of work; returning true makes training stop with `Error::Cancelled`.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl TrainingObserver for NoProgress {}
