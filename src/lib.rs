//! # agent-cli-to-api
//!
//! One OpenAI-compatible HTTP API in front of agent CLIs (Claude Code, Codex,
//! Gemini CLI, Cursor Agent, and any CLI described by a TOML template).
//!
//! ## The pipeline
//!
//! ```text
//! handler (per dialect) ─► server::pipeline ──────────────────────────────► server::answer
//!   body → Turn, Codec      resolve → Capabilities::review → engine::run     stream: Encoder → SSE frames
//!                           (routes)   (ignored / refused)   → Run {events,  fold:   Folder → one body
//!                                                              permit}
//! ```
//!
//! Every endpoint and every backend kind goes through it; see
//! `docs/architecture.md`.
//!
//! ## Layout
//!
//! - [`turn`], [`event`], [`error`], [`location`]: the vocabulary every stage shares.
//! - [`backend`]: compiled templates and their capabilities; pure data.
//! - [`routes`]: model string → backend and model.
//! - [`config`]: `routes.toml`, presets, environment and flags, layered with
//!   figment into one validated [`config::Config`] snapshot (templates are
//!   compiled here); hot reload.
//! - [`dialect`]: wire formats, as pure translators and stateful encoders.
//! - [`engine`]: runs templates: plans, limiters, processes, workspaces.
//! - [`answer_tags`]: optional removal of `<think>`/`<answer>` tags from answers.
//! - [`server`]: the edge, auth, the pipeline, one handler per endpoint.
//! - [`commands`], [`cli`]: the binary's commands.

pub mod answer_tags;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod event;
pub mod location;
pub mod routes;
pub mod server;
pub mod state;
pub mod tokens;
pub mod turn;

use tokio::net::TcpListener;

/// Serves the gateway on `listener` until `state.shutdown` is cancelled and
/// in-flight requests have finished.
pub async fn serve(listener: TcpListener, state: state::AppState) {
    let shutdown = state.shutdown.clone();
    let limits = state.config.load().settings.connections;
    let app = server::router(state);
    server::connections::serve(listener, app, limits, shutdown).await;
}
