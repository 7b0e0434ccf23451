//! `metrics` unit tests: the rendered text is valid Prometheus exposition and holds the series.
//!
//! Every test shares the one process-wide recorder, and tests run in parallel: each test records
//! label values no other test in this binary records, and compares counters before and after.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::build_info::BUILD_INFO;
use super::hash_pool::HASH_POOL_WAIT;
use super::upstream::{UPSTREAM_DURATION, UPSTREAM_ERRORS_TOTAL};
use super::*;

/// One sample line: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed text exposition: `# TYPE` per family, and the samples.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the series `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Like `value`, 0 for a series not rendered yet.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }
}

/// Parses the Prometheus text format 0.0.4 strictly enough to catch a broken renderer: every
/// comment is `# TYPE name type` / `# HELP name text`, every sample `name{l="v",…} value` with a
/// float value, and every sample belongs to a family typed earlier.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().ok_or_else(|| fail("TYPE without a name"))?;
                    let kind = words.next().ok_or_else(|| fail("TYPE without a type"))?;
                    if !is_metric_name(name) {
                        return Err(fail("invalid metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(fail("invalid type"));
                    }
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(fail("second TYPE for a family"));
                    }
                }
                Some("HELP") => {
                    let name = words.next().ok_or_else(|| fail("HELP without a name"))?;
                    if !is_metric_name(name) {
                        return Err(fail("invalid metric name"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| fail(&why))?;
        let kind = family_type(&exposition.types, &sample.name)
            .ok_or_else(|| fail("sample before its family's TYPE"))?;
        if kind == "histogram"
            && sample.name.ends_with("_bucket")
            && !sample.labels.contains_key("le")
        {
            return Err(fail("histogram bucket without le"));
        }
        exposition.samples.push(sample);
    }
    Ok(exposition)
}

/// The `# TYPE` of the family a sample belongs to (histograms add `_bucket`, `_sum`, `_count`).
fn family_type<'a>(types: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    if let Some(kind) = types.get(name) {
        return Some(kind);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let family = name.strip_suffix(suffix)?;
        types
            .get(family)
            .map(String::as_str)
            .filter(|k| ["histogram", "summary"].contains(k))
    })
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("invalid metric name".to_owned());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let label = &rest[..eq];
            if !is_label_name(label) {
                return Err(format!("invalid label name {label:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => return Err(format!("invalid escape \\{c}")),
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            rest = &rest[close + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
            if !rest.starts_with('}')
                && !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            {
                return Err("junk between labels".to_owned());
            }
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("junk after the value".to_owned());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A Prometheus float: Go `ParseFloat` syntax plus `+Inf`, `-Inf`, `NaN`.
fn parse_value(token: &str) -> Result<f64, String> {
    match token {
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        "NaN" => return Ok(f64::NAN),
        _ => {}
    }
    let numeric = !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match token.parse::<f64>() {
        Ok(value) if numeric => Ok(value),
        _ => Err(format!("invalid value {token:?}")),
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn scrape(metrics: &Metrics) -> Exposition {
    let text = metrics.render();
    parse_exposition(&text).unwrap_or_else(|err| panic!("{err}\n--- rendered ---\n{text}"))
}

#[test]
fn render_is_prometheus_text_with_every_series_and_label() {
    let metrics = install();
    let before = scrape(&metrics);

    record_request(RouteClass::Admin, 599, Duration::from_millis(3));
    record_request(RouteClass::Admin, 599, Duration::from_millis(3));
    record_request(RouteClass::Proxy, 1000, Duration::from_secs(20));
    record_login("custom-token", LoginResult::InvalidCredentials);
    record_login("../../etc/passwd", LoginResult::Error);
    record_revocations(3, RevocationSource::Replicated);
    record_upstream_error(UpstreamErrorKind::Timeout);
    set_token_cache(987_654_321, 123_456_789, 4_242);
    set_revocation_staleness(1.5);

    let after = scrape(&metrics);
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.count(name, labels) - before.count(name, labels)
    };

    assert_eq!(
        delta(REQUESTS_TOTAL, &[("class", "admin"), ("status", "599")]),
        2.0
    );
    assert_eq!(
        delta(REQUESTS_TOTAL, &[("class", "proxy"), ("status", "other")]),
        1.0
    );
    assert_eq!(
        delta(
            LOGINS_TOTAL,
            &[
                ("provider", "custom-token"),
                ("outcome", "invalid_credentials")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta(LOGINS_TOTAL, &[("provider", "other"), ("outcome", "error")]),
        1.0
    );
    assert_eq!(delta(REVOCATIONS_TOTAL, &[("source", "replicated")]), 3.0);
    assert_eq!(delta(UPSTREAM_ERRORS_TOTAL, &[("kind", "timeout")]), 1.0);
    assert_eq!(after.value(TOKEN_CACHE_HITS, &[]), Some(987_654_321.0));
    assert_eq!(after.value(TOKEN_CACHE_MISSES, &[]), Some(123_456_789.0));
    assert_eq!(after.value(TOKEN_CACHE_ENTRIES, &[]), Some(4_242.0));
    assert_eq!(after.value(REVOCATION_STALENESS, &[]), Some(1.5));

    for (name, kind) in [
        (REQUESTS_TOTAL, "counter"),
        (REQUEST_DURATION, "histogram"),
        (LOGINS_TOTAL, "counter"),
        (REVOCATIONS_TOTAL, "counter"),
        (UPSTREAM_ERRORS_TOTAL, "counter"),
        (TOKEN_CACHE_HITS, "counter"),
        (TOKEN_CACHE_MISSES, "counter"),
        (TOKEN_CACHE_ENTRIES, "gauge"),
        (REVOCATION_STALENESS, "gauge"),
    ] {
        assert_eq!(
            after.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }

    // The latency histogram: our buckets, cumulative, 3 ms lands at or under 5 ms, 20 s above
    // every bound but +Inf.
    let bucket = format!("{REQUEST_DURATION}_bucket");
    let count = format!("{REQUEST_DURATION}_count");
    let bounds: HashSet<String> = after
        .samples
        .iter()
        .filter(|s| s.name == bucket && s.labels.get("class").map(String::as_str) == Some("admin"))
        .filter_map(|s| s.labels.get("le").cloned())
        .collect();
    let mut expected: HashSet<String> = LATENCY_BUCKETS.iter().map(|b| b.to_string()).collect();
    expected.insert("+Inf".to_owned());
    assert_eq!(bounds, expected);
    let admin = |le: &str| delta(&bucket, &[("class", "admin"), ("le", le)]);
    assert_eq!(admin("0.0025"), 0.0);
    assert_eq!(admin("0.005"), 2.0);
    assert_eq!(admin("+Inf"), 2.0);
    assert_eq!(delta(&count, &[("class", "admin")]), 2.0);
    let proxy = |le: &str| delta(&bucket, &[("class", "proxy"), ("le", le)]);
    assert_eq!(proxy("10"), 0.0);
    assert_eq!(proxy("+Inf"), 1.0);
}

#[test]
fn install_is_idempotent_and_every_handle_sees_one_registry() {
    let first = install();
    let second = install();
    let before = scrape(&first).count(UPSTREAM_ERRORS_TOTAL, &[("kind", "unavailable")]);

    record_upstream_error(UpstreamErrorKind::Unavailable);

    for handle in [&first, &second] {
        let now = scrape(handle).count(UPSTREAM_ERRORS_TOTAL, &[("kind", "unavailable")]);
        assert_eq!(now - before, 1.0);
    }
}

#[test]
fn only_known_providers_become_labels() {
    for known in KNOWN_PROVIDERS {
        assert_eq!(provider_label(known), known);
    }
    for unknown in [
        "",
        "ANON-USER",
        "anon-user ",
        "oauth2-facebook",
        "x".repeat(10_000).as_str(),
    ] {
        assert_eq!(provider_label(unknown), "other");
    }
    // Every configured generic OpenID Connect provider shares one label.
    assert_eq!(provider_label("oidc-corp"), "oidc");
}

#[test]
fn status_outside_http_range_is_other() {
    assert_eq!(status_label(200), "200");
    assert_eq!(status_label(100), "100");
    assert_eq!(status_label(599), "599");
    assert_eq!(status_label(99), "other");
    assert_eq!(status_label(600), "other");
    assert_eq!(status_label(0), "other");
}

#[test]
fn exposition_parser_rejects_malformed_text() {
    let typed = "# TYPE a counter\n";
    assert!(parse_exposition(&format!("{typed}a 1\na{{x=\"y\\\"z\"}} 2.5e3 1700000000\n")).is_ok());
    for bad in [
        "a 1\n",                             // no TYPE
        "# TYPE a bogus\na 1\n",             // unknown type
        "# TYPE a counter\na one\n",         // value not a float
        "# TYPE a counter\na{x=\"y\" 1\n",   // unterminated labels
        "# TYPE a counter\na{x=y} 1\n",      // unquoted label value
        "# TYPE a counter\na{1x=\"y\"} 1\n", // invalid label name
        "# TYPE a counter\na 1 2 3\n",       // junk after the timestamp
        "# TYPE 1a counter\n",               // invalid metric name
        "# TYPE h histogram\nh_bucket 1\n",  // bucket without le
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn upstream_latency_is_labelled_by_outcome_class_only() {
    let metrics = install();
    let before = scrape(&metrics);
    record_upstream_duration(Ok(204), Duration::from_millis(2));
    record_upstream_duration(Ok(302), Duration::from_millis(2));
    record_upstream_duration(Ok(1000), Duration::from_millis(2));
    record_upstream_duration(Err(UpstreamErrorKind::Timeout), Duration::from_secs(30));
    let after = scrape(&metrics);
    let count = format!("{UPSTREAM_DURATION}_count");
    let delta = |outcome: &str| {
        after.count(&count, &[("outcome", outcome)]) - before.count(&count, &[("outcome", outcome)])
    };
    assert!(delta("2xx") >= 1.0);
    assert!(delta("3xx") >= 1.0);
    assert!(delta("other") >= 1.0);
    assert!(delta("timeout") >= 1.0);
    assert_eq!(
        after.types.get(UPSTREAM_DURATION).map(String::as_str),
        Some("histogram")
    );
    let outcomes: HashSet<&str> = after
        .samples
        .iter()
        .filter(|s| s.name == count)
        .filter_map(|s| s.labels.get("outcome").map(String::as_str))
        .collect();
    let allowed = [
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "other",
        "unavailable",
        "timeout",
    ];
    assert!(outcomes.iter().all(|o| allowed.contains(o)), "{outcomes:?}");
}

#[test]
fn a_queued_hash_counts_in_the_depth_until_dropped_and_records_its_wait_when_admitted() {
    let metrics = install();
    let wait_count = format!("{HASH_POOL_WAIT}_count");
    let before = scrape(&metrics).count(&wait_count, &[]);

    let queued = hash_pool_queued();
    let abandoned = hash_pool_queued();
    // Other tests hash in parallel, so only a lower bound holds for the shared gauge.
    assert!(scrape(&metrics).count(HASH_POOL_QUEUE_DEPTH, &[]) >= 2.0);
    queued.admitted();
    drop(abandoned);

    let after = scrape(&metrics);
    assert!(
        after.count(&wait_count, &[]) > before,
        "the admitted wait is recorded"
    );
    assert_eq!(
        after.types.get(HASH_POOL_QUEUE_DEPTH).map(String::as_str),
        Some("gauge")
    );
    assert_eq!(
        after.types.get(HASH_POOL_WAIT).map(String::as_str),
        Some("histogram")
    );
}

#[test]
fn reloads_are_counted_by_result_from_zero() {
    let metrics = install();
    let before = scrape(&metrics);
    assert!(before.value(CONFIG_RELOADS, &[("result", "ok")]).is_some());
    assert!(
        before
            .value(CONFIG_RELOADS, &[("result", "failed")])
            .is_some()
    );
    record_reload(true);
    record_reload(false);
    record_reload(false);
    let after = scrape(&metrics);
    let delta = |result: &str| {
        after.count(CONFIG_RELOADS, &[("result", result)])
            - before.count(CONFIG_RELOADS, &[("result", result)])
    };
    assert_eq!(delta("ok"), 1.0);
    assert_eq!(delta("failed"), 2.0);
}

#[test]
fn build_info_has_one_series_with_the_latest_config_hash() {
    let metrics = install();
    set_build_info("0123456789ab");
    set_build_info("ba9876543210");
    let exposition = scrape(&metrics);
    let series: Vec<&Sample> = exposition
        .samples
        .iter()
        .filter(|s| s.name == BUILD_INFO)
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].value, 1.0);
    assert_eq!(series[0].labels["config_hash"], "ba9876543210");
    assert_eq!(series[0].labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        exposition.types.get(BUILD_INFO).map(String::as_str),
        Some("gauge")
    );
}

#[test]
fn process_metrics_are_read_at_each_render() {
    let exposition = scrape(&install());
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(
            exposition.value(name, &[]).is_some_and(|v| v > 0.0),
            "{name}"
        );
    }
}
