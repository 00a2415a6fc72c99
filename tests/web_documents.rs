//! Documents in headless Chromium against the real relay: the optimistic value before the ack,
//! rollback on a final nack, two clients editing one key converging under every strategy, the
//! audit trail, a throttled subscription, and the metrics snapshot.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use syncline::SynclineClient;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn doc_options(channel: &str) -> JsValue {
    js(&format!(r#"{{"channel":"{channel}"}}"#))
}

fn value_of(c: &SynclineClient, key: &str) -> JsValue {
    get(&c.get_document(key.to_owned()), "value")
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn the_change_is_visible_before_the_ack_and_confirmed_after() {
    fresh_relay().await;
    control("faults", r#"{"ackDelayMs":400}"#).await;
    let ch = channel("docs");
    let c = client("");
    wait_open(&c).await;
    let watched = Recorder::new();
    let _stop = c
        .watch_document("match:1".into(), watched.function.clone(), doc_options(&ch))
        .unwrap();
    let acked = std::rc::Rc::new(std::cell::Cell::new(false));
    let promise = c.mutate(
        "match:1".into(),
        js(r#"{"home":1,"away":0}"#),
        doc_options(&ch),
    );
    // Synchronously, before any answer: the optimistic value.
    let doc = c.get_document("match:1".into());
    assert_eq!(json(&get(&doc, "value")), r#"{"home":1,"away":0}"#);
    assert_eq!(get(&doc, "pending").as_f64(), Some(1.0));
    let flag = acked.clone();
    let on_ack = Closure::<dyn FnMut(JsValue)>::new(move |_| flag.set(true));
    let _ = promise.then(&on_ack);
    sleep(150).await;
    assert!(!acked.get(), "the ack is held back by the relay");
    assert_eq!(
        json(&value_of(&c, "match:1")),
        r#"{"home":1,"away":0}"#,
        "still visible meanwhile"
    );
    wait_until("acked", 3_000, || acked.get()).await;
    let doc = c.get_document("match:1".into());
    assert_eq!(get(&doc, "pending").as_f64(), Some(0.0));
    assert!(get(&doc, "version").as_f64() >= Some(1.0));
    assert!(watched.len() >= 1, "the watcher was told");
    // A patch merges; a function computes from the current value.
    settle(c.mutate("match:1".into(), js(r#"{"away":2}"#), doc_options(&ch)))
        .await
        .unwrap();
    let bump = js_sys::Function::new_with_args("d", "return { ...d, home: d.home + 1 };");
    settle(c.mutate("match:1".into(), bump.into(), doc_options(&ch)))
        .await
        .unwrap();
    assert_eq!(json(&value_of(&c, "match:1")), r#"{"home":2,"away":2}"#);
    control("faults", "{}").await;
    c.close();
}

#[wasm_bindgen_test]
async fn a_final_nack_rolls_the_change_back() {
    fresh_relay().await;
    let ch = channel("reject.docs");
    let c = client("");
    wait_open(&c).await;
    settle(c.mutate("k".into(), js(r#"{"n":1}"#), doc_options(&ch)))
        .await
        .unwrap();
    control("faults", r#"{"rejectChannels":["reject."]}"#).await;
    let errors = Recorder::new();
    let _stop = c.on("error".into(), errors.function.clone()).unwrap();
    let promise = c.mutate("k".into(), js(r#"{"n":2}"#), doc_options(&ch));
    assert_eq!(json(&value_of(&c, "k")), r#"{"n":2}"#, "optimistic");
    let err = settle(promise).await.unwrap_err();
    assert_eq!(kind_of(&err), "rejected");
    assert_eq!(json(&value_of(&c, "k")), r#"{"n":1}"#, "rolled back");
    assert_eq!(
        get(&c.get_document("k".into()), "pending").as_f64(),
        Some(0.0)
    );
    assert!(
        errors
            .field("kind")
            .iter()
            .any(|k| k.as_string().as_deref() == Some("rolled_back"))
    );
    control("faults", "{}").await;
    c.close();
}

/// Two clients edit one key at the same moment; they must end with the same value.
async fn converge(
    strategy: &str,
    resolver: Option<&str>,
) -> (String, SynclineClient, SynclineClient) {
    let ch = channel(&format!("conv-{strategy}"));
    let extra = format!(r#""conflicts":{{"strategy":"{strategy}"}}"#);
    let make = || {
        let opts = options(&extra);
        if let Some(body) = resolver {
            let conflicts = get(&opts, "conflicts");
            js_sys::Reflect::set(
                &conflicts,
                &"resolver".into(),
                &js_sys::Function::new_with_args("c", body),
            )
            .unwrap();
        }
        SynclineClient::new(opts).unwrap()
    };
    let (a, b) = (make(), make());
    wait_open(&a).await;
    wait_open(&b).await;
    settle(a.mutate(
        "k".into(),
        js(r#"{"tags":["start"],"n":0}"#),
        doc_options(&ch),
    ))
    .await
    .unwrap();
    let noop = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    let _wa = a
        .watch_document(
            "k".into(),
            noop.as_ref().clone().unchecked_into(),
            doc_options(&ch),
        )
        .unwrap();
    let _wb = b
        .watch_document(
            "k".into(),
            noop.as_ref().clone().unchecked_into(),
            doc_options(&ch),
        )
        .unwrap();
    wait_until("b has the start value", 5_000, || {
        json(&value_of(&b, "k")).contains("start")
    })
    .await;
    // Both change it in the same turn of the event loop: neither has seen the other's.
    let pa = a.mutate(
        "k".into(),
        js(r#"{"tags":["a"],"n":1,"by":"a"}"#),
        doc_options(&ch),
    );
    let pb = b.mutate(
        "k".into(),
        js(r#"{"tags":["b"],"n":2,"by":"b"}"#),
        doc_options(&ch),
    );
    settle(pa).await.unwrap();
    settle(pb).await.unwrap();
    wait_until("both settled and equal", 5_000, || {
        get(&a.get_document("k".into()), "pending").as_f64() == Some(0.0)
            && get(&b.get_document("k".into()), "pending").as_f64() == Some(0.0)
            && json(&value_of(&a, "k")) == json(&value_of(&b, "k"))
    })
    .await;
    (json(&value_of(&a, "k")), a, b)
}

#[wasm_bindgen_test]
async fn two_clients_converge_under_every_strategy() {
    fresh_relay().await;
    for strategy in ["lww", "server", "client"] {
        let (value, a, b) = converge(strategy, None).await;
        assert!(
            value.contains(r#""by":"a""#) || value.contains(r#""by":"b""#),
            "{strategy}: {value}"
        );
        assert!(
            a.conflicts().length() >= 1 && b.conflicts().length() >= 1,
            "{strategy}: audited in both"
        );
        a.close();
        b.close();
    }
    let (value, a, b) = converge("merge", None).await;
    // Each patch replaced the array (JSON merge patch); the two concurrent values union.
    assert!(
        value.contains(r#""tags":["a","b"]"#) || value.contains(r#""tags":["b","a"]"#),
        "merge unions the tags: {value}"
    );
    let record = a.conflicts().get(0);
    assert_eq!(
        get(&record, "strategy").as_string().as_deref(),
        Some("merge")
    );
    assert_eq!(json(&get(&record, "resolved")).contains("tags"), true);
    a.close();
    b.close();
    let (value, a, b) = converge(
        "custom",
        Some("return { decided: 'by the app', n: Math.max(c.server.n, c.client.n) };"),
    )
    .await;
    assert_eq!(value, r#"{"decided":"by the app","n":2}"#);
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_throttled_subscription_gets_the_latest_and_says_what_it_skipped() {
    fresh_relay().await;
    let ch = channel("throttled");
    let c = client("");
    let got = Recorder::new();
    let _u = c
        .subscribe(
            ch.clone(),
            got.function.clone(),
            js(r#"{"throttleMs":300}"#),
        )
        .unwrap();
    wait_open(&c).await;
    settle(c.request("echo".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    control(
        "push",
        &format!(r#"{{"ch":"{ch}","ev":"tick","data":1,"count":20}}"#),
    )
    .await;
    wait_until("the trailing delivery", 3_000, || {
        let coalesced: f64 = got
            .field("coalesced")
            .iter()
            .filter_map(JsValue::as_f64)
            .sum();
        got.len() as f64 + coalesced >= 20.0
    })
    .await;
    assert!(got.len() <= 3, "throttled to a few calls: {}", got.len());
    let seqs: Vec<f64> = got
        .field("seq")
        .iter()
        .filter_map(JsValue::as_f64)
        .collect();
    assert_eq!(seqs.last().copied(), Some(20.0), "the latest event arrives");
    let m = c.metrics();
    assert!(get(&m, "deliveriesCoalesced").as_f64() >= Some(17.0));
    assert!(get(&m, "messagesIn").as_f64() >= Some(20.0));
    assert!(
        get(&m, "dispatchP50Us").as_f64().is_some(),
        "handler time measured"
    );
    assert_eq!(get(&m, "breaker").as_string().as_deref(), Some("closed"));
    assert_eq!(
        get(&get(&c.get_state(), "outbox"), "breaker")
            .as_string()
            .as_deref(),
        Some("closed")
    );
    c.close();
}
