//! Hot reload: watches the directory of `routes.toml` (editors save by
//! renaming a temporary file, which a watch on the file itself would miss)
//! and the presets directory, debounces, and on SIGHUP too reloads the whole
//! snapshot. A valid snapshot replaces the live one atomically; an invalid
//! one is logged with its location and kept in `status` for
//! `/debug/config`, and the last good config stays live. Some valid-looking
//! snapshots are refused too, because they are what a half-saved file looks
//! like: an empty file, a vanished `routes.toml`, or a config that would
//! turn token authentication off.

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
    /// The files as they were at the last attempt: file events that change
    /// nothing (editors and the reload itself open the files) are skipped.
    last_seen: Mutex<Fingerprint>,
    /// `./routes.toml` when it was read without `--config` (which would
    /// otherwise be dropped silently if it disappeared).
    implicit_file: Option<PathBuf>,
    /// Called with each new config once it is live.
    listeners: Listeners,
}

/// What to tell about a new live config.
#[derive(Default)]
struct Listeners(Mutex<Vec<Listener>>);

/// Called with a config that just went live.
type Listener = Box<dyn Fn(&Config) + Send + Sync>;

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listeners")
    }
}

/// Why `new` must not replace `live`, if it must not: a reload never turns
/// token authentication off (the file that set the token may be half-saved).
fn refusal(live: &Config, new: &Config) -> Option<String> {
    (live.settings.token.is_some() && new.settings.token.is_none()).then(|| {
        "the new config sets no server.token: a reload never turns authentication off, so the \
         previous config stays live; restart the gateway to run without a token"
            .to_owned()
    })
}

/// Size, modification time and inode of every config file.
type Fingerprint = Vec<(PathBuf, Option<(u64, i64, i64, u64)>)>;

impl Reloader {
    /// A reloader for `live`, which was loaded from `options`.
    pub fn new(options: LoadOptions, live: Arc<ArcSwap<Config>>) -> Reloader {
        Reloader {
            live,
            status: Mutex::new(ReloadStatus {
                loaded_at: Some(SystemTime::now()),
                ..ReloadStatus::default()
            }),
            implicit_file: options
                .config
                .is_none()
                .then(|| options.config_path())
                .flatten()
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
            last_seen: Mutex::new(Fingerprint::new()),
            listeners: Listeners::default(),
            options,
        }
    }

    /// Calls `listener` with every config that goes live after this.
    pub fn on_reload(&self, listener: impl Fn(&Config) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.listeners.0.lock() {
            listeners.push(Box::new(listener));
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

    /// Reloads after a file event, unless the files did not change.
    pub fn reload_if_changed(&self, why: &str) {
        let now = self.fingerprint();
        let Ok(mut seen) = self.last_seen.lock() else {
            return;
        };
        if *seen == now {
            return;
        }
        *seen = now;
        drop(seen);
        self.reload(why);
    }

    /// The current state of the config file and the preset files.
    fn fingerprint(&self) -> Fingerprint {
        use std::os::unix::fs::MetadataExt as _;
        let (config, presets) = self.paths();
        let mut files = vec![config];
        if let Ok(entries) = std::fs::read_dir(&presets) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        }
        files
            .into_iter()
            .map(|path| {
                let stat = std::fs::metadata(&path)
                    .ok()
                    .map(|m| (m.size(), m.mtime(), m.mtime_nsec(), m.ino()));
                (path, stat)
            })
            .collect()
    }

    /// Loads the config again; swaps it in if valid and no weaker than the
    /// live one where it matters (see `refusal`).
    pub fn reload(&self, why: &str) {
        let current = self.live.load_full();
        let result = match self.vanished_file() {
            Some(refused) => Err(refused),
            None => load(&self.options).map_err(|e| e.to_string()),
        }
        .and_then(|config| match refusal(&current, &config) {
            Some(refused) => Err(refused),
            None => Ok(config),
        });
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
                if old.connections != new.connections {
                    tracing::warn!(
                        "server.max_connections / header_timeout_seconds changed; they take effect after a restart"
                    );
                }
                let config = Arc::new(config);
                self.live.store(Arc::clone(&config));
                for listener in self.listeners.0.lock().iter().flat_map(|l| l.iter()) {
                    listener(&config);
                }
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
                status.last_error = Some(error);
            }
        }
    }

    /// A `routes.toml` found in the working directory at start-up that is
    /// gone now: a save that removes before it writes, or a deletion. Either
    /// way the routes it defined must not silently disappear.
    fn vanished_file(&self) -> Option<String> {
        let path = self.implicit_file.as_ref()?;
        (!path.is_file()).then(|| {
            format!(
                "{} was removed; keeping the config loaded from it (restart the gateway to run without it)",
                path.display()
            )
        })
    }

    /// The config file and the presets directory (absolute).
    fn paths(&self) -> (PathBuf, PathBuf) {
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
        (config, std::path::absolute(&presets).unwrap_or(presets))
    }

    /// The directories to watch and a filter for relevant paths.
    fn watched(&self) -> (Vec<PathBuf>, impl Fn(&Path) -> bool + Send + 'static) {
        let (config, presets) = self.paths();
        let config_dir = config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut dirs = vec![config_dir];
        if presets.is_dir() {
            dirs.push(presets.clone());
        }
        // A config that is a symbolic link (dotfiles): its target is edited
        // where it lives.
        let target = std::fs::canonicalize(&config)
            .ok()
            .filter(|target| *target != config);
        if let Some(dir) = target.as_deref().and_then(Path::parent)
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_path_buf());
        }
        let names: Vec<_> = [Some(&config), target.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|path| path.file_name().map(ToOwned::to_owned))
            .collect();
        let relevant = move |path: &Path| {
            path.file_name()
                .is_some_and(|name| names.iter().any(|n| n == name))
                || (path.starts_with(&presets) && path.extension().is_some_and(|e| e == "toml"))
        };
        (dirs, relevant)
    }

    /// Reloads on SIGHUP and on changes to the config files until `shutdown`.
    /// Without a file watcher (e.g. inotify limits reached) SIGHUP still works.
    ///
    /// # Errors
    /// When the SIGHUP handler cannot be installed.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> std::io::Result<()> {
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        if let Ok(mut seen) = self.last_seen.lock() {
            *seen = self.fingerprint();
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let debouncer = match self.watch_files(tx) {
            Ok(debouncer) => Some(debouncer),
            Err(error) => {
                tracing::warn!("hot reload on save is off (reload with SIGHUP): {error}");
                None
            }
        };
        let reloader = Arc::clone(self);
        tokio::spawn(async move {
            let _debouncer = debouncer; // dropping it stops watching
            loop {
                let forced = tokio::select! {
                    () = shutdown.cancelled() => break,
                    Some(()) = rx.recv() => false,
                    Some(()) = hangup.recv() => true,
                };
                let reloader = Arc::clone(&reloader);
                let reloaded = tokio::task::spawn_blocking(move || {
                    if forced {
                        reloader.reload("SIGHUP");
                    } else {
                        reloader.reload_if_changed("file change");
                    }
                })
                .await;
                if let Err(error) = reloaded {
                    tracing::error!("config reload crashed, keeping the previous config: {error}");
                }
            }
        });
        Ok(())
    }

    fn watch_files(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Result<
        notify_debouncer_mini::Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
        notify_debouncer_mini::notify::Error,
    > {
        let (dirs, relevant) = self.watched();
        let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
            if let Ok(events) = result
                && events.iter().any(|e| relevant(&e.path))
            {
                let _ = tx.send(());
            }
        })?;
        for dir in &dirs {
            debouncer
                .watcher()
                .watch(dir, RecursiveMode::NonRecursive)?;
        }
        Ok(debouncer)
    }
}
