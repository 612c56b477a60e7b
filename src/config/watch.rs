//! Hot reload: watches the directory of `routes.toml` (editors save by
//! renaming a temporary file, which a watch on the file itself would miss)
//! and the presets directory, debounces, and on SIGHUP too reloads the whole
//! snapshot. A valid snapshot replaces the live one atomically; an invalid
//! one is logged with its location and kept in `status` for
//! `/debug/config`, and the last good config stays live.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LoadOptions, load};

/// How long file events are collected before one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// The outcome of the last reload attempt.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// The error of the last attempt, if it failed.
    pub last_error: Option<String>,
    /// Successful reloads since start.
    pub reloads: u64,
    /// When the live config was loaded.
    pub loaded_at: Option<SystemTime>,
}

/// Reloads the live config.
#[derive(Debug)]
pub struct Reloader {
    options: LoadOptions,
    live: Arc<ArcSwap<Config>>,
    status: Mutex<ReloadStatus>,
}

impl Reloader {
    /// A reloader for `live`, which was loaded from `options`.
    pub fn new(options: LoadOptions, live: Arc<ArcSwap<Config>>) -> Reloader {
        Reloader {
            options,
            live,
            status: Mutex::new(ReloadStatus {
                loaded_at: Some(SystemTime::now()),
                ..ReloadStatus::default()
            }),
        }
    }

    /// The live config.
    pub fn live(&self) -> &Arc<ArcSwap<Config>> {
        &self.live
    }

    /// The last reload's outcome.
    pub fn status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Loads the config again; swaps it in if valid.
    pub fn reload(&self, why: &str) {
        let current = self.live.load_full();
        let result = load(&self.options, Some(&current));
        let Ok(mut status) = self.status.lock() else {
            return;
        };
        match result {
            Ok(config) => {
                let before = current.routes.models();
                let after = config.routes.models();
                config.report.log();
                let (old, new) = (&current.settings, &config.settings);
                if (&old.host, old.port) != (&new.host, new.port) {
                    tracing::warn!(
                        "server.host/port changed to {}:{}; still listening on {}:{} until a restart",
                        new.host,
                        new.port,
                        old.host,
                        old.port
                    );
                }
                self.live.store(Arc::new(config));
                status.last_error = None;
                status.reloads += 1;
                status.loaded_at = Some(SystemTime::now());
                tracing::info!(
                    trigger = why,
                    models = after.len(),
                    added = ?after.iter().filter(|m| !before.contains(m)).collect::<Vec<_>>(),
                    removed = ?before.iter().filter(|m| !after.contains(m)).collect::<Vec<_>>(),
                    "config reloaded"
                );
            }
            Err(error) => {
                tracing::error!(
                    trigger = why,
                    "config reload failed, keeping the previous config: {error}"
                );
                status.last_error = Some(error.to_string());
            }
        }
    }

    /// The directories to watch and a filter for relevant paths.
    fn watched(&self) -> (Vec<PathBuf>, impl Fn(&Path) -> bool + Send + 'static) {
        let config = self
            .options
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("routes.toml"));
        let config = std::path::absolute(&config).unwrap_or(config);
        let config_dir = config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let presets = self
            .options
            .presets_dir
            .clone()
            .unwrap_or_else(|| config_dir.join("presets"));
        let presets = std::path::absolute(&presets).unwrap_or(presets);
        let mut dirs = vec![config_dir];
        if presets.is_dir() {
            dirs.push(presets.clone());
        }
        let file_name = config.file_name().map(ToOwned::to_owned);
        let relevant = move |path: &Path| {
            path.file_name() == file_name.as_deref()
                || (path.starts_with(&presets) && path.extension().is_some_and(|e| e == "toml"))
        };
        (dirs, relevant)
    }

    /// Watches the config files and SIGHUP until `shutdown`.
    ///
    /// # Errors
    /// When the file watcher cannot be created.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> std::io::Result<()> {
        let (dirs, relevant) = self.watched();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        let file_tx = tx.clone();
        let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
            if let Ok(events) = result
                && events.iter().any(|e| relevant(&e.path))
            {
                let _ = file_tx.send("file change");
            }
        })
        .map_err(std::io::Error::other)?;
        for dir in &dirs {
            debouncer
                .watcher()
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(std::io::Error::other)?;
        }
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let reloader = Arc::clone(self);
        tokio::spawn(async move {
            let _debouncer = debouncer; // dropping it stops watching
            loop {
                let why = tokio::select! {
                    () = shutdown.cancelled() => break,
                    Some(why) = rx.recv() => why,
                    Some(()) = hangup.recv() => "SIGHUP",
                };
                let reloader = Arc::clone(&reloader);
                let _ = tokio::task::spawn_blocking(move || reloader.reload(why)).await;
            }
        });
        drop(tx);
        Ok(())
    }
}
