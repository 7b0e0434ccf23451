//! `sessiongate serve`: load config, start logging, build, announce, run until SIGTERM.
//!
//! The first SIGTERM or SIGINT starts a graceful shutdown (drain within
//! `server.shutdown_grace`, then bounded last writes); a second one during it exits at once
//! with 128 + the signal number (143 for SIGTERM, 130 for SIGINT), cutting what is in flight.
//!
//! SIGHUP reloads the config file (same path, same environment): a valid config is applied
//! live (`app::Live::reload`), an invalid one is refused with a log line naming the key and the
//! running config keeps serving.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::CliError;
use crate::app::{App, Live};
use crate::{config, metrics, server, telemetry};

pub async fn run(path: &Path, env: &BTreeMap<String, String>) -> Result<(), CliError> {
    let config = config::load(path, env)?;
    telemetry::init(config.log.format, &config.log.level);
    let fd_limit = server::raise_fd_limit();
    tracing::debug!(?fd_limit, "file-descriptor limit");
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let app = App::build(config).await?;
    // Listening for signals starts before the ready line, so none sent after it is missed.
    let shutdown = signals();
    reload_on_hangup(path.to_owned(), env.clone(), app.live());
    // The ready line: scripts and tests wait for it and read the bound addresses from it.
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "sessiongate ready client={scheme}://{} admin=http://{}",
        app.client_addr(),
        app.admin_addr()
    )
    .and_then(|()| stdout.flush())
    .context("cannot write the ready line")?;
    tracing::info!(client = %app.client_addr(), admin = %app.admin_addr(), "listening");
    app.run(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT; a second one afterwards exits the process at once
/// (a shutdown that takes too long can always be cut short).
#[cfg(unix)]
fn signals() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let streams = signal(SignalKind::terminate())
        .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
    let (mut term, mut int) = match streams {
        Ok(streams) => streams,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for signals; using the default handler");
            return futures_util::future::Either::Left(server::shutdown::signal());
        }
    };
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = first_tx.send(());
        let (name, code) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 128 + 15),
            _ = int.recv() => ("SIGINT", 128 + 2),
        };
        tracing::warn!(
            signal = name,
            code,
            "second signal during shutdown: exiting now"
        );
        eprintln!("sessiongate: {name} during shutdown: exiting now");
        std::process::exit(code);
    });
    futures_util::future::Either::Right(async move {
        let _ = first_rx.await;
    })
}

/// Reloads the config on every SIGHUP, one at a time, for as long as the process runs.
#[cfg(unix)]
fn reload_on_hangup(path: PathBuf, env: BTreeMap<String, String>, live: Arc<Live>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP; config reload is off");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            reload(&path, &env, &live);
        }
    });
}

#[cfg(not(unix))]
fn reload_on_hangup(_path: PathBuf, _env: BTreeMap<String, String>, _live: Arc<Live>) {}

/// Reads, validates and applies the config file; logs what happened either way.
fn reload(path: &Path, env: &BTreeMap<String, String>, live: &Live) {
    let applied = config::load(path, env).and_then(|config| live.reload(config));
    metrics::record_reload(applied.is_ok());
    match applied {
        Ok(reloaded) => {
            for key in &reloaded.restart_needed {
                tracing::warn!(
                    key,
                    "config reload: this key changed but needs a restart; the running value stays"
                );
            }
            if reloaded.log_level == telemetry::LevelChange::EnvDecides {
                tracing::info!(
                    "config reload: SESSIONGATE_LOG is set and keeps deciding the log filter"
                );
            }
            tracing::info!(
                restart_needed = reloaded.restart_needed.len(),
                certificate = reloaded.certificate_reloaded,
                "config reloaded"
            );
        }
        Err(err) => tracing::error!(
            key = %err.key,
            reason = %err.reason,
            "config reload refused; the running config keeps serving"
        ),
    }
}

#[cfg(not(unix))]
fn signals() -> impl Future<Output = ()> {
    server::shutdown::signal()
}
