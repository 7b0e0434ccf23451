//! `sessiongate serve`: load config, start logging, build, announce, run until SIGTERM.

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
    app.run(server::shutdown::signal()).await;
    tracing::info!("stopped");
    Ok(())
}
