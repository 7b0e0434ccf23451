use proptest::prelude::*;

use super::*;
use crate::telemetry::fields::TextFields;
use crate::telemetry::testing::{Captured, in_text_lines, without_time};

/// What `emit` logs through `tracing_subscriber`'s default text format, with a real `request`
/// span around it when `id` is given.
fn default_format(id: Option<&'static str>, emit: impl Fn()) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(Level::TRACE)
        .fmt_fields(TextFields)
        .finish();
    tracing::subscriber::with_default(subscriber, || match id {
        Some(id) => tracing::info_span!("request", id = %id).in_scope(&emit),
        None => emit(),
    });
    captured.text()
}

/// What `emit` logs through [`TextLines`], run as the request `id` when given.
fn text_lines(id: Option<&'static str>, emit: impl Fn()) -> String {
    in_text_lines(|| match id {
        Some(id) => web::REQUEST_ID.sync_scope(HeaderValue::from_static(id), &emit),
        None => emit(),
    })
    .1
}

fn many_events() {
    tracing::info!(target: "sessiongate::access", class = "proxy", status = 200u16, "request");
    tracing::warn!(
        error = "it failed",
        "a warning with \"quotes\" and \x1b[31m"
    );
    tracing::error!("an error");
    tracing::debug!(count = 3u64, "a debug line");
    tracing::trace!("a trace line");
    let login = tracing::info_span!("login", provider = "local-userpass");
    login.in_scope(|| {
        tracing::info!(user = "u1", "inside a span");
        tracing::info_span!("empty").in_scope(|| tracing::info!("two spans deep"));
    });
}

#[test]
fn text_lines_write_what_the_default_format_writes_for_a_request_span() {
    let ours = text_lines(Some("00ab-req"), many_events);
    assert_eq!(
        without_time(&ours),
        without_time(&default_format(Some("00ab-req"), many_events))
    );
    assert_eq!(ours.lines().count(), 7, "{ours}");
    assert!(
        ours.lines()
            .all(|line| line.contains(" request{id=00ab-req}:")),
        "{ours}"
    );
}

#[test]
fn text_lines_write_what_the_default_format_writes_outside_requests() {
    let ours = text_lines(None, many_events);
    assert_eq!(
        without_time(&ours),
        without_time(&default_format(None, many_events))
    );
    assert!(!ours.contains("request{"), "{ours}");
}

#[test]
fn a_direct_line_is_the_line_text_lines_writes_for_the_same_event() {
    let uas = ["curl/8.5.0", "tab\there \"q\" \\ \x1b[31m ünï", ""];
    let emit = || {
        for ua in uas {
            tracing::info!(
                target: "sessiongate::access",
                class = "proxy",
                method = %http::Method::GET,
                status = 200u16,
                latency_us = 12_345u64,
                zero = 0u64,
                big = u64::MAX,
                ua = ua,
                "request"
            );
        }
    };
    let through_tracing = text_lines(Some("00ab"), emit);

    let (direct, _) = in_text_lines(|| {
        web::REQUEST_ID.sync_scope(HeaderValue::from_static("00ab"), || {
            let mut direct = String::new();
            for ua in uas {
                let mut line = DirectLine::open(&Level::INFO, "sessiongate::access", "request")
                    .expect("TextLines is in force and no span is entered");
                line.str(" class=", "proxy");
                line.display(" method=", http::Method::GET.as_str());
                line.u64(" status=", 200);
                line.u64(" latency_us=", 12_345);
                line.u64(" zero=", 0);
                line.u64(" big=", u64::MAX);
                line.str(" ua=", ua);
                line.write_to(|bytes| direct.push_str(std::str::from_utf8(bytes).expect("UTF-8")));
            }
            direct
        })
    });
    assert_eq!(without_time(&direct), without_time(&through_tracing));
    assert_eq!(direct.lines().count(), uas.len());
}

#[test]
fn no_direct_line_under_another_format_or_inside_a_span() {
    let other = tracing_subscriber::fmt()
        .with_writer(Captured::default())
        .fmt_fields(TextFields)
        .finish();
    tracing::subscriber::with_default(other, || {
        assert!(DirectLine::open(&Level::INFO, "t", "m").is_none());
        assert!(
            request_spans(),
            "requests need their span under the default format"
        );
    });
    let ours = tracing_subscriber::fmt()
        .with_writer(Captured::default())
        .event_format(TextLines)
        .finish();
    tracing::subscriber::with_default(ours, || {
        assert!(!request_spans());
        assert!(DirectLine::open(&Level::INFO, "t", "m").is_some());
        let span = tracing::info_span!("outer");
        let _entered = span.enter();
        assert!(
            DirectLine::open(&Level::INFO, "t", "m").is_none(),
            "a span's prefix would be missing"
        );
    });
}

proptest! {
    #[test]
    fn timestamps_are_rfc3339_with_microseconds(
        seconds in 0u64..YEAR_10000,
        nanos in 0u32..1_000_000_000,
        later_nanos in 0u32..1_000_000_000,
    ) {
        // The same second twice (the cached text) and the next one.
        for (seconds, nanos) in [(seconds, nanos), (seconds, later_nanos), (seconds + 1, nanos)] {
            let time = UNIX_EPOCH + std::time::Duration::new(seconds, nanos);
            if seconds >= YEAR_10000 {
                continue;
            }
            let mut ours = String::new();
            write_timestamp(&mut ours, time).unwrap();
            prop_assert_eq!(ours, humantime::format_rfc3339_micros(time).to_string());
        }
    }
}

#[test]
fn work_handed_on_keeps_the_request_id() {
    let id = HeaderValue::from_static("feed");
    let context = web::REQUEST_ID.sync_scope(id.clone(), RequestContext::current);
    let on_thread = std::thread::spawn(move || context.in_scope(web::request_id))
        .join()
        .unwrap();
    assert_eq!(on_thread, Some(id.clone()));
    assert_eq!(RequestContext::current().in_scope(web::request_id), None);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let context = web::REQUEST_ID.sync_scope(id.clone(), RequestContext::current);
    let in_task = runtime
        .block_on(async { tokio::spawn(context.attach(async { web::request_id() })).await })
        .unwrap();
    assert_eq!(in_task, Some(id));
}
