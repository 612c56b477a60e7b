//! # agent-cli-to-api
//!
//! One OpenAI-compatible HTTP API in front of agent CLIs (Claude Code, Codex,
//! Gemini CLI, Cursor Agent, and any CLI described by a TOML template).
//!
//! ## The pipeline
//!
//! ```text
//! HTTP request ──► dialect::openai_chat ──► Turn ──► routes::resolve ──► Backend template
//!   (server)          (pure translator)             (model string)       (config-built)
//!
//! Backend ──► engine::run ──► EventStream ──► dialect::openai_chat ──► SSE chunks / JSON
//!             (spawns the CLI,   (Event:        (encoder, pure)
//!              output rules)      text, reasoning, usage, finish)
//! ```
//!
//! ## Layout
//!
//! - [`turn`], [`event`], [`error`]: the vocabulary every stage shares.
//! - [`config`]: `routes.toml`, presets, environment and flags, layered with
//!   figment into one validated [`config::Config`] snapshot; hot reload.
//! - [`routes`]: model string → backend and model.
//! - [`backend`]: compiled templates (argv, output rules); pure data.
//! - [`engine`]: runs templates: processes, limits, workspaces.
//! - [`answer_tags`]: optional removal of `<think>`/`<answer>` tags from answers.
//! - [`dialect`]: wire formats, as pure translators.
//! - [`server`]: HTTP endpoints, auth, logs.
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
