use std::collections::BTreeMap;

use super::super::{Config, ConfigError, from_toml_str};

fn load(extra: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let text = format!("[app]\nid = \"myapp-abcde\"\n{extra}");
    from_toml_str(&text, &env, std::path::Path::new("."))
}

#[test]
fn oidc_providers_get_their_names_issuers_and_defaults() {
    let config = load(
        "[providers.oauth2_google]\nenabled = true\nclient_ids = [\"web\", \"android\"]\n\
         [providers.oauth2_apple]\nenabled = true\nclient_ids = [\"com.example\"]\n\
         [[providers.oidc]]\nname = \"corp\"\nissuer = \"https://id.corp.example/realm/\"\n\
         client_ids = [\"gw\"]\nredirect_uris = [\"https://app.example/done\"]\n",
        &[(
            "SESSIONGATE_PROVIDERS__OAUTH2_GOOGLE__CLIENT_SECRET",
            "s3cret",
        )],
    )
    .unwrap();
    let names: Vec<&str> = config
        .providers
        .oidc
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["oauth2-google", "oauth2-apple", "oidc-corp"]);
    let [google, apple, corp] = &config.providers.oidc[..] else {
        panic!("three providers");
    };
    assert_eq!(google.issuer, super::GOOGLE_ISSUER);
    assert_eq!(
        google.client_secret.as_ref().map(|s| s.expose()),
        Some(&b"s3cret"[..])
    );
    assert_eq!(google.scopes, ["openid", "email", "profile"]);
    assert_eq!(apple.issuer, super::APPLE_ISSUER);
    assert_eq!(apple.scopes, ["openid"]);
    assert!(apple.client_secret.is_none() && apple.redirect_uris.is_empty());
    assert_eq!(
        corp.discovery_url.as_str(),
        "https://id.corp.example/realm/.well-known/openid-configuration"
    );
    assert_eq!(corp.leeway, std::time::Duration::from_secs(60));
    // The secret never prints.
    assert!(!format!("{google:?}").contains("s3cret"));
    // Disabled by default.
    assert!(load("", &[]).unwrap().providers.oidc.is_empty());
}

#[test]
fn oidc_config_mistakes_name_their_key() {
    for (extra, key) in [
        (
            "[providers.oauth2_google]\nenabled = true\n",
            "providers.oauth2_google.client_ids",
        ),
        (
            "[providers.oauth2_google]\nenabled = true\nclient_ids = [\"a\"]\nclient_secret = \"x\"\n",
            "providers.oauth2_google.client_secret",
        ),
        (
            "[[providers.oidc]]\nname = \"c\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\nclient_secret = \"x\"\n",
            "providers.oidc[0].client_secret",
        ),
        (
            "[[providers.oidc]]\nname = \"Corp!\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\n",
            "providers.oidc[0].name",
        ),
        (
            "[[providers.oidc]]\nname = \"c\"\nclient_ids = [\"a\"]\n",
            "providers.oidc[0].issuer",
        ),
        (
            "[[providers.oidc]]\nname = \"c\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\n\
             [[providers.oidc]]\nname = \"c\"\nissuer = \"https://j.example\"\nclient_ids = [\"b\"]\n",
            "providers.oidc[1].name",
        ),
        (
            "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nredirect_uris = [\"https://a.example/#x\"]\n",
            "providers.oauth2_apple.redirect_uris",
        ),
        (
            "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nscopes = [\"email\"]\n",
            "providers.oauth2_apple.scopes",
        ),
        (
            "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nname = \"x\"\n",
            "providers.oauth2_apple.name",
        ),
    ] {
        let err = load(extra, &[]).unwrap_err();
        assert_eq!(err.key, key, "{extra}: {err}");
    }
}
