//! `sessiongate serve`: load config, start logging, build, announce, run until SIGTERM.
//!
//! The first SIGTERM or SIGINT starts a graceful shutdown (drain within
//! `server.shutdown_grace`, then bounded last writes); a second one during it exits at once
//! with 128 + the signal number (143 for SIGTERM, 130 for SIGINT), cutting what is in flight.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::CliError;
use crate::app::App;
use crate::{config, server, telemetry};

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

#[cfg(not(unix))]
fn signals() -> impl Future<Output = ()> {
    server::shutdown::signal()
}
