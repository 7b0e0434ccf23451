//! What an attempt is counted against: the attempt (action, provider, account, client) and its
//! keys, each a digest with a scope. Pure functions, no store.
//!
//! # Security
//! The client is the address the gateway resolved (`server.trusted_proxies`): a client cannot
//! choose it. IPv6 clients are counted per /64, the block one subscriber usually holds, so
//! walking through one's own addresses buys no tries. Keys are SHA-256 digests: the store
//! never holds an email or an address for this.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::auth::{api_key, custom_function, userpass};
use crate::config::LoginLimitsConfig;

/// What is being attempted; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A login through local-userpass, api-key or custom-function.
    Login,
    /// local-userpass `register`.
    Register,
    /// A confirmation or reset send (`confirm/send`, `confirm/call`, `reset/send`, `reset/call`).
    Send,
    /// `POST /auth/session` with a refresh token.
    Refresh,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::Send => "send",
            Self::Refresh => "refresh",
        }
    }
}

/// What a key counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One account from one client address (the strict limit).
    AccountClient,
    /// One account from everywhere (the loose limit; known clients are exempt).
    Account,
    /// One client address over every account.
    Client,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountClient => "account_client",
            Self::Account => "account",
            Self::Client => "client",
        }
    }

    /// The access-log reason of a refusal by this scope.
    pub fn reason(self) -> &'static str {
        match self {
            Self::AccountClient => "throttled_account_client",
            Self::Account => "throttled_account",
            Self::Client => "throttled_client",
        }
    }
}

/// One attempt, before it is checked.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub action: Action,
    /// The provider whose account this is (`local-userpass` for register and sends).
    pub provider: &'static str,
    /// The account as the provider names it (a normalized email), when the body names one.
    pub account: Option<String>,
    pub client: Option<IpAddr>,
}

/// One counted key of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key: String,
    pub scope: Scope,
    pub limit: u32,
}

impl Attempt {
    /// A login through `provider` with `body`; `None` for providers that are not limited
    /// (anonymous, custom-token, OpenID Connect and grant logins check a signature or a
    /// one-time secret, no password).
    pub fn login(provider: &str, body: &serde_json::Value, client: Option<IpAddr>) -> Option<Self> {
        let (provider, account) = match provider {
            userpass::NAME => (userpass::NAME, text(body, "username").map(email_account)),
            // A guessed key names no account: only the client's limit applies.
            api_key::NAME => (api_key::NAME, None),
            custom_function::NAME => (
                custom_function::NAME,
                text(body, "username")
                    .or_else(|| text(body, "email"))
                    .map(|name| name.trim().to_owned()),
            ),
            _ => return None,
        };
        Some(Self {
            action: Action::Login,
            provider,
            account: account.filter(|a| !a.is_empty()),
            client,
        })
    }

    /// local-userpass `register` for `email` (as sent).
    pub fn register(email: Option<&str>, client: Option<IpAddr>) -> Self {
        Self::for_email(Action::Register, email, client)
    }

    /// A confirmation or reset send for `email` (as sent).
    pub fn send(email: Option<&str>, client: Option<IpAddr>) -> Self {
        Self::for_email(Action::Send, email, client)
    }

    /// A refresh (`POST /auth/session`).
    pub fn refresh(client: Option<IpAddr>) -> Self {
        Self {
            action: Action::Refresh,
            provider: "",
            account: None,
            client,
        }
    }

    fn for_email(action: Action, email: Option<&str>, client: Option<IpAddr>) -> Self {
        Self {
            action,
            provider: userpass::NAME,
            account: email.map(email_account).filter(|a| !a.is_empty()),
            client,
        }
    }

    /// The keys this attempt is checked and counted against, strictest first.
    pub fn keys(&self, limits: &LoginLimitsConfig) -> Vec<Key> {
        let client = client_bucket(self.client);
        let key = |scope: Scope, parts: &[&str], limit: u32| Key {
            key: key(self.action, scope, parts),
            scope,
            limit,
        };
        let mut keys = Vec::with_capacity(3);
        match (self.action, self.account.as_deref()) {
            (Action::Login, Some(account)) => {
                keys.push(key(
                    Scope::AccountClient,
                    &[self.provider, account, &client],
                    limits.per_account_and_client,
                ));
                keys.push(key(
                    Scope::Account,
                    &[self.provider, account],
                    limits.per_account,
                ));
            }
            (Action::Register, Some(account)) => keys.push(key(
                Scope::Account,
                &[self.provider, account],
                limits.per_account_and_client,
            )),
            (Action::Send, Some(account)) => keys.push(key(
                Scope::Account,
                &[self.provider, account],
                limits.sends_per_account,
            )),
            _ => {}
        }
        keys.push(key(Scope::Client, &[&client], limits.per_client));
        keys
    }

    /// The (account, client) login key whose successful logins make this client known to the
    /// account: known clients are exempt from the account's loose limit.
    pub fn known_key(&self) -> Option<String> {
        let account = self.account.as_deref()?;
        match self.action {
            Action::Login | Action::Send => Some(key(
                Action::Login,
                Scope::AccountClient,
                &[self.provider, account, &client_bucket(self.client)],
            )),
            Action::Register | Action::Refresh => None,
        }
    }
}

fn text<'a>(body: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    body.get(field).and_then(serde_json::Value::as_str)
}

/// The account of an email as local-userpass compares it (trimmed, lowercased).
fn email_account(email: &str) -> String {
    userpass::normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase())
}

/// The client as counted: an IPv4 address, an IPv6 /64, or `unknown`.
pub fn client_bucket(client: Option<IpAddr>) -> String {
    match client {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let mut segments = ip.segments();
                segments[4..].fill(0);
                format!("{}/64", std::net::Ipv6Addr::from(segments))
            }
        },
        None => "unknown".to_owned(),
    }
}

/// `action:scope:<digest of the length-prefixed parts>`.
fn key(action: Action, scope: Scope, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    format!(
        "{}:{}:{}",
        action.as_str(),
        scope.as_str(),
        hex::encode(&digest[..16])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> LoginLimitsConfig {
        use std::time::Duration;
        LoginLimitsConfig {
            enabled: true,
            window: Duration::from_secs(900),
            per_account_and_client: 10,
            per_account: 100,
            per_client: 100,
            sends_per_account: 5,
            block: Duration::from_secs(60),
            max_block: Duration::from_secs(3600),
            forget_after: Duration::from_secs(86_400),
            known_client_ttl: Duration::from_secs(30 * 86_400),
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("ip"))
    }

    #[test]
    fn a_userpass_login_counts_the_pair_the_account_and_the_client() {
        let attempt = Attempt::login(
            "local-userpass",
            &json!({"username": " Alice@Example.COM ", "password": "x"}),
            ip("10.0.0.1"),
        )
        .expect("limited");
        let keys = attempt.keys(&limits());
        let scopes: Vec<_> = keys.iter().map(|k| k.scope).collect();
        assert_eq!(
            scopes,
            [Scope::AccountClient, Scope::Account, Scope::Client]
        );
        assert_eq!(keys[0].limit, 10);
        assert_eq!(keys[1].limit, 100);
        // The same account however it is spelled, and the known key is the pair key.
        let same = Attempt::login(
            "local-userpass",
            &json!({"username": "alice@example.com"}),
            ip("10.0.0.1"),
        )
        .expect("limited");
        assert_eq!(same.keys(&limits()), keys);
        assert_eq!(attempt.known_key().as_deref(), Some(keys[0].key.as_str()));
        assert!(!keys[1].key.contains("alice"), "keys are digests");
    }

    #[test]
    fn signature_logins_are_not_limited_and_api_keys_only_per_client() {
        assert!(Attempt::login("anon-user", &json!({}), ip("10.0.0.1")).is_none());
        assert!(Attempt::login("custom-token", &json!({}), ip("10.0.0.1")).is_none());
        let api = Attempt::login("api-key", &json!({"key": "k"}), ip("10.0.0.1")).expect("limited");
        let keys = api.keys(&limits());
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].scope, Scope::Client);
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_bucket(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(client_bucket(None), "unknown");
    }

    #[test]
    fn actions_count_apart_and_sends_check_the_login_known_key() {
        let send = Attempt::send(Some("a@example.com"), ip("10.0.0.1"));
        let login = Attempt::login(
            "local-userpass",
            &json!({"username": "a@example.com"}),
            ip("10.0.0.1"),
        )
        .expect("limited");
        let send_keys = send.keys(&limits());
        assert_eq!(send_keys[0].limit, 5);
        assert!(send_keys.iter().all(|k| k.key.starts_with("send:")));
        assert_eq!(send.known_key(), login.known_key());
        assert_eq!(Attempt::refresh(ip("10.0.0.1")).keys(&limits()).len(), 1);
        assert!(
            Attempt::register(None, ip("10.0.0.1"))
                .known_key()
                .is_none()
        );
    }
}
