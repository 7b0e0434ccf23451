//! Packaging: the systemd unit passes `systemd-analyze verify` and keeps its hardening; the
//! Kubernetes example is consistent (probes on the admin listener, secrets from the Secret,
//! PostgreSQL) and its config passes `config check`; the Containerfile builds the way the
//! README says; the LICENSE is the one Cargo.toml names; rustls-pemfile is gone.

use std::path::Path;

use serde_json::Value;

use crate::common::skip_without;
use crate::{BIN, command, run};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[tokio::test]
async fn the_systemd_unit_passes_systemd_analyze() {
    let unit = read("packaging/sessiongate.service");
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=sessiongate",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=78",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    let analyzer = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if analyzer.is_err() {
        skip_without(
            "systemd-analyze (install it with .ci/setup-systemd)",
            "the_systemd_unit_passes_systemd_analyze",
        );
        return;
    }
    // `verify` checks that ExecStart= is executable: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessiongate.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/sessiongate", BIN)).unwrap();

    let verify = tokio::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .await
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify refused or warned about packaging/sessiongate.service \
         (exit {:?}):\n{stderr}",
        verify.status.code()
    );

    // The exposure score (0 = fully locked down, 10 = none): the hardening is in effect.
    let security = tokio::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .await
        .expect("run systemd-analyze security");
    let text = String::from_utf8_lossy(&security.stdout).into_owned()
        + &String::from_utf8_lossy(&security.stderr);
    let score = text
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for sessiongate.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 2.0, "exposure level {score}:\n{text}");
}

/// Every YAML document of a file, as JSON values.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).unwrap_or_else(|err| panic!("{path}: {err}"))
        })
        .collect()
}

#[tokio::test]
async fn the_kubernetes_example_is_consistent_and_its_config_checks() {
    let deployment = &yaml_documents("packaging/kubernetes/deployment.yaml")[0];
    let configmap = &yaml_documents("packaging/kubernetes/configmap.yaml")[0];
    let secret = &yaml_documents("packaging/kubernetes/secret.yaml")[0];
    let kustomization = read("packaging/kubernetes/kustomization.yaml");
    for file in [
        "configmap.yaml",
        "secret.yaml",
        "deployment.yaml",
        "service.yaml",
    ] {
        assert!(kustomization.contains(file), "kustomization lists {file}");
    }
    assert_eq!(deployment["kind"], "Deployment");
    assert!(
        deployment["spec"]["replicas"].as_u64() > Some(1),
        "several replicas"
    );
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<_> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sessiongate"]);
    let gate = &containers[1];
    let admin_port = gate["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("an admin port")["containerPort"]
        .as_u64()
        .unwrap();
    assert_eq!(gate["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(gate["readinessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(gate["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(gate["livenessProbe"]["httpGet"]["port"], "admin");
    let store_env = gate["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SESSIONGATE_STORE__URL")
        .expect("store URL from the Secret");
    assert_eq!(
        store_env["valueFrom"]["secretKeyRef"]["name"],
        secret["metadata"]["name"]
    );
    let store_url = secret["stringData"]["store-url"].as_str().unwrap();
    assert!(store_url.starts_with("postgres://"), "{store_url}");
    assert!(secret["stringData"]["admin-key"].as_str().is_some());

    // The ConfigMap's config passes `config check` with the Secret's values.
    let toml_text = configmap["data"]["sessiongate.toml"].as_str().unwrap();
    let parsed: toml::Table = toml::from_str(toml_text).unwrap();
    let admin_listen = parsed["server"]["admin_listen"].as_str().unwrap();
    assert!(
        admin_listen.ends_with(&format!(":{admin_port}")),
        "{admin_listen}"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = crate::write_config(dir.path(), toml_text);
    let key_file = dir.path().join("admin-key");
    std::fs::write(
        &key_file,
        secret["stringData"]["admin-key"].as_str().unwrap(),
    )
    .unwrap();
    let mut check = command(&["config", "check", "--config", config.to_str().unwrap()]);
    check
        .env("SESSIONGATE_STORE__URL", store_url)
        .env("SESSIONGATE_ADMIN__API_KEY_FILE", &key_file);
    let outcome = run(check).await.expect_code(0);
    assert!(!outcome.stderr.contains("warning"), "{}", outcome.stderr);
}

#[test]
fn the_containerfile_builds_as_the_readme_says() {
    let containerfile = read("Containerfile");
    let readme = read("README.md");
    let build = containerfile
        .lines()
        .find_map(|line| line.strip_prefix("RUN cargo build"))
        .expect("a cargo build step");
    let command = format!("cargo build{build}");
    assert!(readme.contains(&command), "README documents {command:?}");
    assert!(readme.contains("cargo install --path . --locked"));
    assert!(containerfile.contains("USER 65532"), "runs as non-root");
    assert_eq!(
        containerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2,
        "multi-stage"
    );
    assert!(
        Path::new(ROOT).join(".dockerignore").exists(),
        "target/ stays out of the context"
    );
}

#[test]
fn the_license_is_the_one_cargo_toml_names() {
    let cargo: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    assert_eq!(cargo["package"]["license"].as_str(), Some("Apache-2.0"));
    let license = read("LICENSE");
    assert!(
        license.contains("Apache License\n                           Version 2.0, January 2004")
    );
    assert!(
        license.contains("END OF TERMS AND CONDITIONS"),
        "the full text"
    );
    assert!(license.contains("APPENDIX: How to apply the Apache License to your work."));
}

#[test]
fn the_archived_rustls_pemfile_is_not_a_dependency() {
    let lock = read("Cargo.lock");
    assert!(
        !lock.contains("name = \"rustls-pemfile\""),
        "RUSTSEC-2025-0134"
    );
}
