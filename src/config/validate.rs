//! Turns the config as written (`raw::RawConfig`) into a `Config`, section by section, in a
//! fixed order so that the first bad key is the one reported.

use super::raw::RawConfig;
use super::{
    Config, ConfigError, ProxyConfig, admin, app, assertion, auth, cors, events, log, login_limits,
    outbound, providers, routes, server, sessions, store, tokens, upstream,
};

pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let server = server::validate(raw.server)?;
    let app = app::validate(raw.app)?;
    let store = store::validate(raw.store)?;
    let tokens = tokens::validate(raw.tokens)?;
    let upstream = upstream::validate(raw.upstream)?;
    let outbound = outbound::validate(raw.outbound.ca_file)?;
    let admin = admin::validate(raw.admin)?;
    let assertion = assertion::validate(&raw.identity_headers)?;
    let identity_headers = upstream::identity_headers(raw.identity_headers)?;
    let routes = raw
        .routes
        .into_iter()
        .enumerate()
        .map(|(index, route)| routes::validate(index, route))
        .collect::<Result<Vec<_>, _>>()?;
    let cors = cors::validate(raw.cors)?;
    let sessions = sessions::validate(raw.sessions)?;
    let events = events::validate(raw.events)?;
    let providers = providers::validate(raw.providers)?;
    let auth = auth::validate(raw.auth)?;
    let login_limits = login_limits::validate(raw.login_limits)?;
    let log = log::validate(raw.log)?;
    Ok(Config {
        server,
        app,
        store,
        tokens,
        upstream,
        outbound,
        admin,
        identity_headers,
        assertion,
        proxy: ProxyConfig {
            forward_credentials: raw.proxy.forward_credentials.unwrap_or(false),
        },
        cors,
        sessions,
        events,
        routes,
        providers,
        auth,
        login_limits,
        log,
    })
}
