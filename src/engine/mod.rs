//! The code that runs backend templates. `run` is the only place that
//! matches on the backend kind; each engine returns an `EventStream`.

pub mod cli;
pub mod limiter;
pub mod output;
pub mod process;
pub mod reaper;
pub mod workspace;

use crate::backend::Backend;
use crate::error::Error;
use crate::event::EventStream;

pub use cli::{RunContext, RunRequest};

/// Starts `backend` for one request.
///
/// # Errors
/// Whatever prevents the backend from starting; later failures arrive as
/// `Err` items of the stream.
pub async fn run(
    backend: &Backend,
    run: RunRequest,
    ctx: RunContext,
) -> Result<EventStream, Error> {
    match backend {
        Backend::Cli(cli) => cli::start(std::sync::Arc::clone(cli), run, ctx).await,
    }
}
