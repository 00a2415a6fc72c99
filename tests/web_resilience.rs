//! The client in headless Chromium when things go wrong for real: the relay process killed and
//! restarted, tokens rotated, a server that stops answering pings, the page coming back.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn relay_killed_and_restarted_reconnects_and_recovers_missed_events() {
    fresh_relay().await;
    let ch = channel("recover");
    let c = client(r#""reconnect":{"initialDelayMs":300,"maxDelayMs":600}"#);
    let got = Recorder::new();
    let _u = c
        .subscribe(ch.clone(), got.function.clone(), JsValue::UNDEFINED)
        .unwrap();
    wait_open(&c).await;
    settle(c.publish_to(
        ch.clone(),
        "before".into(),
        JsValue::from(0),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    wait_until("first event", 5_000, || got.len() == 1).await;
    let first_session = get(&c.get_state(), "session");

    // SIGKILL: no close frame, the socket just drops.
    supervisor("kill", "").await;
    wait_until("client notices the loss", 5_000, || state_of(&c) != "open").await;
    let while_down = settle(c.publish_to(
        ch.clone(),
        "while-down".into(),
        JsValue::from(1),
        JsValue::UNDEFINED,
    ));
    // Start again but refuse clients, so events can be published before this client is back.
    supervisor(
        "start",
        r#"{"args":["--faults","{\"refuseConnections\":true}"]}"#,
    )
    .await;
    control(
        "push",
        &format!(r#"{{"ch":"{ch}","ev":"missed","data":{{"n":1}},"count":3}}"#),
    )
    .await;
    // The client keeps trying meanwhile (the fresh relay counts its refusals).
    let started = js_sys::Date::now();
    while relay_stat("refused").await < 1.0 {
        assert!(
            js_sys::Date::now() - started < 5_000.0,
            "no reconnect attempt reached the relay"
        );
        sleep(50).await;
    }
    assert_ne!(state_of(&c), "open");
    control("faults", "{}").await;
    wait_open(&c).await;

    assert_ne!(
        get(&c.get_state(), "session"),
        first_session,
        "a new session"
    );
    assert!(get(&c.get_state(), "reconnects").as_f64() >= Some(1.0));
    wait_until("missed events recovered", 5_000, || got.len() >= 5).await;
    let events: Vec<String> = got
        .field("event")
        .iter()
        .filter_map(JsValue::as_string)
        .collect();
    let seqs: Vec<f64> = got
        .field("seq")
        .iter()
        .filter_map(JsValue::as_f64)
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "missed").count(),
        3,
        "{events:?}"
    );
    let mut sorted = seqs.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    assert_eq!(seqs, sorted, "in order, no duplicates: {seqs:?}");
    // The durable publish made while the relay was dead was stored locally ("queued") and
    // delivered after reconnecting.
    assert_eq!(
        get(&while_down.await.unwrap(), "status")
            .as_string()
            .as_deref(),
        Some("queued")
    );
    assert!(events.contains(&"while-down".to_owned()));
    c.close();
}

#[wasm_bindgen_test]
async fn auth_token_is_required_refreshed_and_rejection_does_not_loop() {
    fresh_relay().await;
    control("token", r#"{"token":"t1"}"#).await;
    let token = Rc::new(RefCell::new("t1".to_owned()));
    let calls = Rc::new(RefCell::new(0u32));
    let (t, n) = (token.clone(), calls.clone());
    let auth = Closure::<dyn FnMut() -> js_sys::Promise>::new(move || {
        *n.borrow_mut() += 1;
        // Asynchronous, like a real token refresh.
        js_sys::Promise::resolve(&JsValue::from_str(&t.borrow()))
    });
    let opts = options(r#""reconnect":{"initialDelayMs":200,"maxDelayMs":5000,"jitter":0}"#);
    js_sys::Reflect::set(&opts, &"auth".into(), &auth.into_js_value()).unwrap();
    let c = syncline::SynclineClient::new(opts).unwrap();
    wait_open(&c).await;
    assert_eq!(*calls.borrow(), 1);

    // The server rotates its token and drops everyone; our callback still hands out t1.
    control("token", r#"{"token":"t2"}"#).await;
    control("kick", "").await;
    wait_until("auth rejected", 5_000, || {
        get(&get(&c.get_state(), "lastError"), "kind")
            .as_string()
            .as_deref()
            == Some("auth_rejected")
    })
    .await;
    // Every attempt asks the callback once. Backoff 200, 400, 800, 1600 ms…: 3 or 4
    // attempts in 2 s (counting the one just refused), never a tight loop.
    let calls_at_rejection = *calls.borrow();
    sleep(2_000).await;
    let attempts = *calls.borrow() - calls_at_rejection + 1;
    assert!(
        (2..=4).contains(&attempts),
        "{attempts} refused attempts in ~2 s"
    );
    assert_ne!(state_of(&c), "open");

    // The app gets the new token: the next attempt asks the callback again and gets in.
    *token.borrow_mut() = "t2".to_owned();
    c.reconnect_now();
    wait_open(&c).await;
    assert!(
        *calls.borrow() >= 4,
        "asked on every connect: {}",
        calls.borrow()
    );
    control("token", r#"{"token":null}"#).await;
    c.close();
}

#[wasm_bindgen_test]
async fn failing_auth_callback_is_reported_and_retried() {
    fresh_relay().await;
    let calls = Rc::new(RefCell::new(0u32));
    let n = calls.clone();
    let auth = Closure::<dyn FnMut() -> js_sys::Promise>::new(move || {
        *n.borrow_mut() += 1;
        if *n.borrow() == 1 {
            js_sys::Promise::reject(&js_sys::Error::new("token service down").into())
        } else {
            js_sys::Promise::resolve(&JsValue::NULL)
        }
    });
    let opts = options("");
    js_sys::Reflect::set(&opts, &"auth".into(), &auth.into_js_value()).unwrap();
    let c = syncline::SynclineClient::new(opts).unwrap();
    let errors = Recorder::new();
    let _stop = c.on_error(errors.function.clone());
    wait_open(&c).await;
    assert_eq!(*calls.borrow(), 2);
    assert_eq!(
        errors.field("kind")[0].as_string().as_deref(),
        Some("auth_callback")
    );
    assert!(
        errors.field("message")[0]
            .as_string()
            .unwrap_or_default()
            .contains("token service down")
    );
    c.close();
}

#[wasm_bindgen_test]
async fn heartbeat_detects_a_server_that_stopped_answering() {
    fresh_relay().await;
    let c = client(r#""heartbeat":{"intervalMs":300,"timeoutMs":300}"#);
    wait_open(&c).await;
    wait_until("an RTT", 5_000, || {
        get(&c.get_state(), "rttMs").as_f64().is_some()
    })
    .await;
    let session = get(&c.get_state(), "session");
    control("faults", r#"{"ignorePings":true}"#).await;
    wait_until("heartbeat timeout", 5_000, || {
        get(&get(&c.get_state(), "lastError"), "kind")
            .as_string()
            .as_deref()
            == Some("heartbeat_timeout")
    })
    .await;
    control("faults", "{}").await;
    wait_until("new session", 5_000, || {
        state_of(&c) == "open" && get(&c.get_state(), "session") != session
    })
    .await;
    c.close();
}

#[wasm_bindgen_test]
async fn coming_back_to_the_page_checks_the_connection() {
    fresh_relay().await;
    // A long heartbeat: apart from the ping at connect, nothing is sent for 60 s unless the
    // page becoming visible asks for a check.
    let c = client(r#""heartbeat":{"intervalMs":60000}"#);
    wait_open(&c).await;
    wait_until("the RTT from the ping at connect", 3_000, || {
        get(&c.get_state(), "rttMs").as_f64().is_some()
    })
    .await;
    sleep(200).await;
    let before = relay_stat("framesIn").await;
    let document = web_sys::window().unwrap().document().unwrap();
    document
        .dispatch_event(&web_sys::Event::new("visibilitychange").unwrap())
        .unwrap();
    let started = js_sys::Date::now();
    while relay_stat("framesIn").await <= before {
        assert!(
            js_sys::Date::now() - started < 3_000.0,
            "no health-check ping reached the relay"
        );
        sleep(20).await;
    }
    c.close();
}
