//! The client in headless Chromium against the real relay: connect, subscribe and receive,
//! publish, request/response and timeouts, the send buffer, bad frames.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn connects_and_reports_open() {
    fresh_relay().await;
    let c = client(r#""autoConnect":false"#);
    assert_eq!(state_of(&c), "idle");
    let states = Recorder::new();
    let stop = c.on_state_change(states.function.clone());
    c.connect();
    wait_open(&c).await;
    let state = c.get_state();
    assert!(
        get(&state, "session")
            .as_string()
            .is_some_and(|s| s.starts_with('s'))
    );
    assert_eq!(get(&state, "attempt").as_f64(), Some(0.0));
    assert!(
        js_sys::Object::is_frozen(&state.clone().into()),
        "the snapshot is immutable"
    );
    assert!(
        js_sys::Object::is(&state, &c.get_state()),
        "unchanged state keeps its identity"
    );
    let seen: Vec<String> = states
        .field("state")
        .iter()
        .filter_map(JsValue::as_string)
        .collect();
    assert!(
        seen.contains(&"connecting".to_owned()) && seen.last().map(String::as_str) == Some("open"),
        "{seen:?}"
    );
    js_sys::Function::from(stop).call0(&JsValue::NULL).unwrap();
    c.close();
    assert_eq!(state_of(&c), "closed");
    assert_eq!(c.callback_count(), 0, "close() releases every callback");
}

#[wasm_bindgen_test]
async fn subscribers_receive_published_events_in_order() {
    fresh_relay().await;
    let ch = channel("scores");
    let (receiver, sender) = (client(""), client(""));
    let got = Recorder::new();
    let _unsubscribe = receiver
        .subscribe(ch.clone(), got.function.clone(), JsValue::UNDEFINED)
        .unwrap();
    wait_open(&receiver).await;
    wait_open(&sender).await;
    wait_until("subscription live", 5_000, || {
        get(&receiver.get_state(), "channels").as_f64() == Some(1.0)
    })
    .await;
    // The relay confirms the subscription before later events, so give it a round trip.
    settle(receiver.request("echo".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    let mut acks = Vec::new();
    for n in 0..5 {
        acks.push(
            settle(sender.publish_to(
                ch.clone(),
                "goal".into(),
                js(&format!(r#"{{"n":{n}}}"#)),
                JsValue::UNDEFINED,
            ))
            .await
            .unwrap(),
        );
    }
    let seqs: Vec<f64> = acks.iter().filter_map(|a| get(a, "seq").as_f64()).collect();
    assert_eq!(seqs, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(
        acks.iter()
            .all(|a| get(a, "status").as_string().as_deref() == Some("acked"))
    );
    wait_until("5 events", 5_000, || got.len() == 5).await;
    let ns: Vec<f64> = got
        .field("data")
        .iter()
        .map(|d| get(d, "n").as_f64().unwrap_or(-1.0))
        .collect();
    assert_eq!(ns, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(got.field("event")[0].as_string().as_deref(), Some("goal"));
    assert_eq!(
        got.field("id")[0],
        get(&acks[0], "id"),
        "the publish id travels with the event"
    );
    receiver.close();
    sender.close();
}

#[wasm_bindgen_test]
async fn handlers_run_by_priority_and_filter_by_event() {
    fresh_relay().await;
    let ch = channel("prio");
    let c = client("");
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::<&'static str>::new()));
    let mut unsubs = Vec::new();
    for (name, opts) in [
        ("low", r#"{"priority":-5}"#),
        ("cards-only", r#"{"event":"card"}"#),
        ("high", r#"{"priority":10}"#),
    ] {
        let o = order.clone();
        let f = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |_| {
            o.borrow_mut().push(name)
        });
        let f: js_sys::Function = wasm_bindgen::JsCast::unchecked_into(f.into_js_value());
        unsubs.push(c.subscribe(ch.clone(), f, js(opts)).unwrap());
    }
    wait_open(&c).await;
    settle(c.request("echo".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    settle(c.publish_to(ch.clone(), "goal".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    wait_until("goal delivered", 5_000, || order.borrow().len() == 2).await;
    assert_eq!(*order.borrow(), vec!["high", "low"]);
    order.borrow_mut().clear();
    settle(c.publish_to(ch.clone(), "card".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    wait_until("card delivered", 5_000, || order.borrow().len() == 3).await;
    assert_eq!(*order.borrow(), vec!["high", "cards-only", "low"]);

    // Unsubscribing stops delivery; the last one leaves the channel.
    for u in &unsubs {
        js_sys::Function::from(u.clone())
            .call0(&JsValue::NULL)
            .unwrap();
        js_sys::Function::from(u.clone())
            .call0(&JsValue::NULL)
            .unwrap();
    }
    assert_eq!(get(&c.get_state(), "channels").as_f64(), Some(0.0));
    assert_eq!(c.callback_count(), 0);
    order.borrow_mut().clear();
    settle(c.publish_to(ch.clone(), "goal".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    settle(c.request("echo".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    assert!(order.borrow().is_empty());
    c.close();
}

#[wasm_bindgen_test]
async fn requests_get_answers_and_typed_errors() {
    fresh_relay().await;
    let c = client("");
    let answer = settle(c.request("echo".into(), js(r#"{"q":[1,2]}"#), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(
        js_sys::JSON::stringify(&answer)
            .unwrap()
            .as_string()
            .as_deref(),
        Some(r#"{"q":[1,2]}"#)
    );

    let err = settle(c.request("no-such".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), "server");
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("unknown_request")
    );
    assert_eq!(
        get(&err, "name").as_string().as_deref(),
        Some("SynclineError")
    );

    let started = js_sys::Date::now();
    let err = settle(c.request(
        "sleep".into(),
        js(r#"{"ms":3000}"#),
        js(r#"{"timeoutMs":200,"retries":0}"#),
    ))
    .await
    .unwrap_err();
    assert_eq!(kind_of(&err), "timeout");
    assert_eq!(get(&err, "retryable"), JsValue::TRUE);
    assert!(
        js_sys::Date::now() - started < 2_000.0,
        "rejected at the timeout, not at the answer"
    );

    // The first attempt times out at 200 ms; its answer comes at 300 ms, before the retry
    // (due 1 s later): a late answer still resolves the request.
    let answer = settle(c.request(
        "sleep".into(),
        js(r#"{"ms":300}"#),
        js(r#"{"timeoutMs":200,"retries":1}"#),
    ))
    .await
    .unwrap();
    assert_eq!(get(&answer, "ms").as_f64(), Some(300.0));
    c.close();
}

#[wasm_bindgen_test]
async fn memory_publishes_buffer_while_connecting_and_refuse_overflow() {
    fresh_relay().await;
    let ch = channel("buffered");
    let c = client(r#""autoConnect":false,"sendBufferSize":3"#);
    assert_eq!(state_of(&c), "idle");
    let promises: Vec<_> = (0..3)
        .map(|n| c.publish_to(ch.clone(), "e".into(), JsValue::from(n), memory()))
        .collect();
    assert_eq!(get(&c.get_state(), "buffered").as_f64(), Some(3.0));
    let overflow = settle(c.publish_to(ch.clone(), "e".into(), JsValue::from(4), memory()))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&overflow), "buffer_full");
    c.connect();
    for p in promises {
        assert_eq!(
            get(&settle(p).await.unwrap(), "status")
                .as_string()
                .as_deref(),
            Some("acked")
        );
    }
    assert_eq!(get(&c.get_state(), "buffered").as_f64(), Some(0.0));
    let ids = http("GET", &format!("{SUPERVISOR}/ids?ch={ch}"), None).await;
    assert_eq!(get(&ids, "count").as_f64(), Some(3.0));

    c.disconnect();
    let err = settle(c.publish_to(ch.clone(), "e".into(), JsValue::NULL, memory()))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), "closed");
    let err = settle(c.publish_to(String::new(), "e".into(), JsValue::NULL, memory()))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid_argument");
    c.close();
}

#[wasm_bindgen_test]
async fn survives_garbage_frames() {
    fresh_relay().await;
    let ch = channel("garbage");
    let c = client("");
    let errors = Recorder::new();
    let _stop = c.on_error(errors.function.clone());
    let got = Recorder::new();
    let _u = c
        .subscribe(ch.clone(), got.function.clone(), JsValue::UNDEFINED)
        .unwrap();
    wait_open(&c).await;
    let session = get(&c.get_state(), "session");
    let garbage = serde_like_array(&[
        "not json at all",
        "{\"t\":\"ev\",\"ch\":\"x\"}",
        "[1,2",
        "{\"t\":\"warp\"}",
        "{\"t\":\"ack\",\"id\":\"nobody\",\"seq\":1}",
        &"[".repeat(10_000),
        "{\"t\":\"ev\",\"ch\":\"x\",\"ev\":\"e\",\"seq\":-1}",
        "\u{0}\u{1}\u{2}",
    ]);
    control("raw", &format!(r#"{{"frames":{garbage}}}"#)).await;
    control("raw", r#"{"frames":["\u0000\u00ff binary"],"binary":true}"#).await;
    wait_until("9 error events", 5_000, || errors.len() >= 9).await;
    let kinds: Vec<String> = errors
        .field("kind")
        .iter()
        .filter_map(JsValue::as_string)
        .collect();
    assert!(
        kinds.iter().filter(|k| *k == "malformed_frame").count() >= 7,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"unknown_answer".to_owned())
            && kinds.contains(&"unexpected_binary".to_owned()),
        "{kinds:?}"
    );
    // Still the same connection, still working.
    assert_eq!(state_of(&c), "open");
    assert_eq!(get(&c.get_state(), "session"), session);
    settle(c.publish_to(
        ch.clone(),
        "after".into(),
        JsValue::TRUE,
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    wait_until("event after garbage", 5_000, || got.len() == 1).await;
    c.close();
}

/// Publish options for a memory-only (not durable) publish.
fn memory() -> JsValue {
    js(r#"{"durable":false}"#)
}

/// A JSON array of strings.
fn serde_like_array(items: &[&str]) -> String {
    let array = js_sys::Array::new();
    for item in items {
        array.push(&JsValue::from_str(item));
    }
    js_sys::JSON::stringify(&array)
        .unwrap()
        .as_string()
        .unwrap()
}
