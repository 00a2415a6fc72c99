//! The durable outbox in headless Chromium with real IndexedDB, against the real relay and its
//! SQLite: publishing while the relay is down, a client dropped before its acks (the reload
//! case), lost acks, final nacks and dead letters, no IndexedDB at all, order across a drain.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn publish(c: &syncline::SynclineClient, ch: &str, n: u32) -> js_sys::Promise {
    c.publish_to(
        ch.to_owned(),
        "e".into(),
        js(&format!(r#"{{"n":{n}}}"#)),
        JsValue::UNDEFINED,
    )
}

fn ids_of(results: &[Result<JsValue, JsValue>]) -> Vec<String> {
    results
        .iter()
        .map(|r| {
            get(r.as_ref().expect("publish resolves"), "id")
                .as_string()
                .unwrap_or_default()
        })
        .collect()
}

#[wasm_bindgen_test]
async fn published_while_the_relay_is_down_is_stored_then_delivered() {
    fresh_relay().await;
    supervisor("kill", "").await;
    let ch = channel("down");
    let c = client("");
    let delivered = Recorder::new();
    let _stop = c
        .on("delivered".into(), delivered.function.clone())
        .unwrap();
    let results = settle_all((0..5).map(|n| publish(&c, &ch, n)).collect()).await;
    for r in &results {
        assert_eq!(
            get(r.as_ref().unwrap(), "status").as_string().as_deref(),
            Some("queued")
        );
    }
    assert_eq!(outbox_field(&c, "depth").as_f64(), Some(5.0));
    assert_eq!(
        outbox_field(&c, "storage").as_string().as_deref(),
        Some("indexeddb")
    );
    assert!(outbox_field(&c, "oldestCreatedAt").as_f64().is_some());
    assert!(relay_ids(&ch).await.is_empty());

    supervisor("start", "").await;
    wait_drained(&c, 10_000).await;
    assert_eq!(
        relay_ids(&ch).await,
        ids_of(&results),
        "all stored, in publish order"
    );
    assert_eq!(delivered.len(), 5, "a delivered event for each");
    c.close();
}

#[wasm_bindgen_test]
async fn a_client_dropped_before_its_acks_is_replaced_and_nothing_is_lost_or_doubled() {
    fresh_relay().await;
    let ch = channel("reload");
    let key = channel("reload-db");
    // The relay stores everything but answers nothing: the page goes away with no ack.
    control("faults", r#"{"dropEveryNthAck":1}"#).await;
    let first = client(&format!(
        r#""storageKey":"{key}","outbox":{{"ackTimeoutMs":60000}}"#
    ));
    wait_open(&first).await;
    let pending: Vec<_> = (0..3).map(|n| publish(&first, &ch, n)).collect();
    let started = js_sys::Date::now();
    while relay_ids(&ch).await.len() < 3 {
        assert!(
            js_sys::Date::now() - started < 5_000.0,
            "the relay stored the publishes"
        );
        sleep(20).await;
    }
    assert_eq!(
        outbox_field(&first, "depth").as_f64(),
        Some(3.0),
        "no acks, so all still held"
    );
    first.close();
    drop(first);
    drop(pending);
    control("faults", "{}").await;
    let duplicates_before = relay_stat("duplicates").await;

    // The "reloaded page": a new client on the same database.
    let second = client(&format!(r#""storageKey":"{key}""#));
    wait_drained(&second, 10_000).await;
    let stored = relay_ids(&ch).await;
    assert_eq!(stored.len(), 3, "each stored exactly once: {stored:?}");
    assert_eq!(
        relay_stat("duplicates").await - duplicates_before,
        3.0,
        "resent and deduped by id"
    );
    second.close();
}

#[wasm_bindgen_test]
async fn with_every_third_ack_dropped_each_entry_is_stored_exactly_once() {
    fresh_relay().await;
    control("faults", r#"{"dropEveryNthAck":3}"#).await;
    let ch = channel("lossy");
    let c =
        client(r#""outbox":{"ackTimeoutMs":400,"retry":{"initialDelayMs":50,"maxDelayMs":200}}"#);
    wait_open(&c).await;
    let promises: Vec<_> = (0..30).map(|n| publish(&c, &ch, n)).collect();
    wait_drained(&c, 20_000).await;
    let results = settle_all(promises).await;
    let stored = relay_ids(&ch).await;
    assert_eq!(stored, ids_of(&results), "30 entries, each once, in order");
    assert!(relay_stat("acksDropped").await >= 10.0);
    assert!(
        relay_stat("duplicates").await >= 1.0,
        "lost acks were answered by resends"
    );
    control("faults", "{}").await;
    c.close();
}

#[wasm_bindgen_test]
async fn a_final_nack_makes_a_dead_letter_with_an_event() {
    fresh_relay().await;
    control("faults", r#"{"rejectChannels":["reject."]}"#).await;
    let ch = channel("reject.orders");
    let c = client("");
    let letters = Recorder::new();
    let _stop = c.on("deadLetter".into(), letters.function.clone()).unwrap();
    wait_open(&c).await;
    let err = settle(publish(&c, &ch, 1)).await.unwrap_err();
    assert_eq!(kind_of(&err), "rejected");
    assert_eq!(get(&err, "retryable"), JsValue::FALSE);
    wait_until("deadLetter event", 2_000, || letters.len() == 1).await;
    let letter = &letters.calls.borrow()[0];
    assert_eq!(get(letter, "channel").as_string(), Some(ch.clone()));
    assert_eq!(
        get(letter, "reason").as_string().as_deref(),
        Some("channel refuses publishes")
    );
    assert_eq!(get(&get(letter, "data"), "n").as_f64(), Some(1.0));
    assert_eq!(outbox_field(&c, "deadLetters").as_f64(), Some(1.0));
    assert_eq!(outbox_field(&c, "depth").as_f64(), Some(0.0));
    assert_eq!(c.dead_letters().length(), 1);
    assert!(relay_ids(&ch).await.is_empty());

    // The server changes its mind; the app retries the dead letters.
    control("faults", "{}").await;
    assert_eq!(c.retry_dead_letters(JsValue::UNDEFINED).unwrap(), 1);
    assert_eq!(outbox_field(&c, "deadLetters").as_f64(), Some(0.0));
    wait_drained(&c, 5_000).await;
    assert_eq!(relay_ids(&ch).await.len(), 1);

    // And a letter can be discarded for good.
    control("faults", r#"{"rejectChannels":["reject."]}"#).await;
    let _ = settle(publish(&c, &ch, 2)).await;
    assert_eq!(
        c.discard_dead_letters(js(&format!("[{:?}]", "not-an-id")))
            .unwrap(),
        0
    );
    assert_eq!(c.discard_dead_letters(JsValue::UNDEFINED).unwrap(), 1);
    assert_eq!(c.dead_letters().length(), 0);
    control("faults", "{}").await;
    c.close();
}

#[wasm_bindgen_test]
async fn without_indexeddb_the_client_says_degraded_and_still_delivers() {
    fresh_relay().await;
    let window: js_sys::Object = web_sys::window().unwrap().unchecked_into();
    let key = JsValue::from_str("indexedDB");
    let own: JsValue = js_sys::Object::get_own_property_descriptor(&window, &key);
    let hidden: js_sys::Object =
        js(r#"{"value":null,"configurable":true,"writable":true}"#).unchecked_into();
    js_sys::Reflect::define_property(&window, &key, &hidden).unwrap();

    let ch = channel("memory");
    let c = client("");
    let errors = Recorder::new();
    let _stop = c.on("error".into(), errors.function.clone()).unwrap();
    wait_until("storage decided", 5_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("memory")
    })
    .await;
    // Put IndexedDB back for the other tests before anything can fail.
    if own.is_undefined() {
        js_sys::Reflect::delete_property(&window, &key).unwrap();
    } else {
        js_sys::Reflect::define_property(&window, &key, own.unchecked_ref()).unwrap();
    }
    assert_eq!(outbox_field(&c, "degraded"), JsValue::TRUE);
    let last = outbox_field(&c, "lastError");
    assert_eq!(get(&last, "kind").as_string().as_deref(), Some("storage"));
    wait_open(&c).await;
    let acked = settle(publish(&c, &ch, 1)).await.unwrap();
    assert_eq!(get(&acked, "status").as_string().as_deref(), Some("acked"));
    assert_eq!(relay_ids(&ch).await.len(), 1);

    // Kept in memory while the relay is away, delivered when it is back.
    supervisor("kill", "").await;
    wait_until("client notices", 5_000, || state_of(&c) != "open").await;
    // Not on disk: "held", not "queued".
    let held = settle(publish(&c, &ch, 2)).await.unwrap();
    assert_eq!(get(&held, "status").as_string().as_deref(), Some("held"));
    supervisor("start", "").await;
    wait_drained(&c, 10_000).await;
    assert_eq!(relay_ids(&ch).await.len(), 2);
    c.close();
}

#[wasm_bindgen_test]
async fn channel_order_survives_a_drain_of_many_entries() {
    fresh_relay().await;
    supervisor("kill", "").await;
    let (a, b) = (channel("order-a"), channel("order-b"));
    let c = client(r#""outbox":{"window":16}"#);
    let promises: Vec<_> = (0..300)
        .map(|n| publish(&c, if n % 3 == 0 { &a } else { &b }, n))
        .collect();
    let results = settle_all(promises).await;
    let ids = ids_of(&results);
    let expected = |ch_is_a: bool| -> Vec<String> {
        ids.iter()
            .enumerate()
            .filter(|(n, _)| (n % 3 == 0) == ch_is_a)
            .map(|(_, id)| id.clone())
            .collect()
    };
    supervisor("start", "").await;
    wait_drained(&c, 20_000).await;
    assert_eq!(relay_ids(&a).await, expected(true));
    assert_eq!(relay_ids(&b).await, expected(false));
    c.close();
}

use wasm_bindgen::JsCast;

#[wasm_bindgen_test]
async fn a_database_from_a_newer_version_degrades_instead_of_blocking() {
    fresh_relay().await;
    let key = channel("newer");
    // Another (newer) build of the app left the database at version 5.
    let open_newer = js_sys::Function::new_with_args(
        "name",
        "return new Promise((ok, fail) => { const r = indexedDB.open(name, 5); \
         r.onsuccess = () => { r.result.close(); ok(); }; r.onerror = () => fail(r.error); });",
    );
    let created = open_newer
        .call1(
            &JsValue::NULL,
            &JsValue::from_str(&format!("syncline:{key}")),
        )
        .unwrap();
    settle(created.unchecked_into()).await.unwrap();

    let c = client(&format!(r#""storageKey":"{key}""#));
    wait_until("storage decided", 6_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("memory")
    })
    .await;
    assert_eq!(outbox_field(&c, "degraded"), JsValue::TRUE);
    wait_open(&c).await;
    let ch = channel("newer-ch");
    let acked = settle(publish(&c, &ch, 1)).await.unwrap();
    assert_eq!(get(&acked, "status").as_string().as_deref(), Some("acked"));
    c.close();
}

#[wasm_bindgen_test]
async fn a_database_that_stays_blocked_gives_up_after_5_s_and_works_from_memory() {
    fresh_relay().await;
    let key = channel("blocked");
    // A connection that ignores versionchange, and a delete queued behind it: every later
    // open of the database waits until that connection closes.
    let block = js_sys::Function::new_with_args(
        "name",
        "return new Promise((ok, fail) => { const r = indexedDB.open(name, 1); \
         r.onerror = () => fail(r.error); \
         r.onsuccess = () => { const held = r.result; indexedDB.deleteDatabase(name); \
           ok(() => held.close()); }; });",
    );
    let release = settle(
        block
            .call1(
                &JsValue::NULL,
                &JsValue::from_str(&format!("syncline:{key}")),
            )
            .unwrap()
            .unchecked_into(),
    )
    .await
    .unwrap();

    let c = client(&format!(r#""storageKey":"{key}""#));
    assert_eq!(
        outbox_field(&c, "storage").as_string().as_deref(),
        Some("loading")
    );
    wait_until("storage given up", 7_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("memory")
    })
    .await;
    assert_eq!(outbox_field(&c, "degraded"), JsValue::TRUE);
    let last = outbox_field(&c, "lastError");
    assert_eq!(get(&last, "kind").as_string().as_deref(), Some("storage"));
    assert!(
        get(&last, "message")
            .as_string()
            .is_some_and(|m| m.contains("within 5 s")),
        "{last:?}"
    );
    // The open that finally goes through after the connection closes changes nothing.
    release
        .unchecked_ref::<js_sys::Function>()
        .call0(&JsValue::NULL)
        .unwrap();
    wait_open(&c).await;
    let acked = settle(publish(&c, &channel("blocked-ch"), 1))
        .await
        .unwrap();
    assert_eq!(get(&acked, "status").as_string().as_deref(), Some("acked"));
    assert_eq!(
        outbox_field(&c, "storage").as_string().as_deref(),
        Some("memory")
    );
    c.close();
}

/// Runs `body` as an async JS function of `(name, ...)` and awaits it.
async fn run_js(args: &str, body: &str, values: &[JsValue]) -> JsValue {
    let f = js_sys::Function::new_with_args(args, body);
    let list: js_sys::Array = values.iter().collect();
    let promise = f.apply(&JsValue::NULL, &list).unwrap();
    settle(promise.unchecked_into()).await.unwrap()
}

#[wasm_bindgen_test]
async fn records_keep_their_shape_so_a_database_written_by_an_earlier_version_loads() {
    fresh_relay().await;
    supervisor("kill", "").await;
    let key = channel("shape");
    let name = JsValue::from_str(&format!("syncline:{key}"));
    let ch = channel("shape-ch");
    // Recent, or the outbox's retention would expire them at once.
    let t0 = js_sys::Date::now() as u64 - 1_000;
    let t1 = t0 + 1;
    // The records exactly as the earlier (inline JS) store wrote them, and one that is not ours.
    let seeded = js(&format!(
        r#"{{"outbox":[
          {{"id":"0190a000-0000-7000-8000-000000000001","channel":"{ch}","event":"e","data":"{{\"n\":1}}","createdAt":{t0},"priority":0}},
          {{"id":"0190a000-0000-7000-8000-000000000002","channel":"{ch}","event":"e","data":"{{\"n\":2}}","createdAt":{t1},"priority":0}},
          {{"id":"junk","channel":5}}],
          "dead":[{{"id":"0190a000-0000-7000-8000-000000000003","channel":"{ch}","event":"e","data":"[3]","createdAt":{t0},"priority":2,"reason":"expired","failedAt":{t1}}}]}}"#
    ));
    run_js(
        "name, seeded",
        "return new Promise((ok, fail) => { const r = indexedDB.open(name, 1); \
         r.onupgradeneeded = () => { for (const s of ['outbox', 'dead']) r.result.createObjectStore(s, { keyPath: 'id' }); }; \
         r.onerror = () => fail(r.error); \
         r.onsuccess = () => { const db = r.result, tx = db.transaction(['outbox', 'dead'], 'readwrite'); \
           for (const s of ['outbox', 'dead']) for (const x of seeded[s]) tx.objectStore(s).put(x); \
           tx.oncomplete = () => { db.close(); ok(); }; tx.onabort = () => fail(tx.error); }; });",
        &[name.clone(), seeded],
    )
    .await;

    let c = client(&format!(r#""storageKey":"{key}""#));
    // The relay is down, so a socket error may come after the storage's: all are recorded.
    let errors = Recorder::new();
    let _stop = c.on_error(errors.function.clone());
    wait_until("storage loaded", 5_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("indexeddb")
    })
    .await;
    assert_eq!(outbox_field(&c, "depth").as_f64(), Some(2.0));
    assert_eq!(outbox_field(&c, "deadLetters").as_f64(), Some(1.0));
    let letter = c.dead_letters().get(0);
    assert_eq!(
        get(&letter, "id").as_string().as_deref(),
        Some("0190a000-0000-7000-8000-000000000003")
    );
    assert_eq!(
        get(&letter, "reason").as_string().as_deref(),
        Some("expired")
    );
    assert_eq!(get(&letter, "failedAt").as_f64(), Some(t1 as f64));
    let messages: Vec<String> = errors
        .field("message")
        .iter()
        .filter_map(JsValue::as_string)
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("1 unreadable")),
        "{messages:?}"
    );

    // What this version writes has the same shape, field for field.
    let queued = settle(publish(&c, &ch, 7)).await.unwrap();
    let id = get(&queued, "id");
    let read = "return new Promise((ok, fail) => { const r = indexedDB.open(name); \
         r.onerror = () => fail(r.error); \
         r.onsuccess = () => { const db = r.result, g = db.transaction('outbox').objectStore('outbox').get(id); \
           g.onsuccess = () => { db.close(); ok(g.result === undefined ? null : g.result); }; \
           g.onerror = () => fail(g.error); }; });";
    let mut stored = JsValue::NULL;
    for _ in 0..100 {
        stored = run_js("name, id", read, &[name.clone(), id.clone()]).await;
        if !stored.is_null() {
            break;
        }
        sleep(20).await;
    }
    assert!(stored.is_object(), "the entry was stored");
    let keys: Vec<String> = js_sys::Object::keys(stored.unchecked_ref::<js_sys::Object>())
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    assert_eq!(
        keys,
        ["id", "channel", "event", "data", "createdAt", "priority"]
    );
    assert_eq!(get(&stored, "id"), id);
    assert_eq!(
        get(&stored, "data").as_string().as_deref(),
        Some(r#"{"n":7}"#)
    );
    assert!(
        get(&stored, "createdAt")
            .as_f64()
            .is_some_and(|t| t > 1.7e12)
    );
    assert_eq!(get(&stored, "priority").as_f64(), Some(0.0));

    supervisor("start", "").await;
    wait_drained(&c, 10_000).await;
    let mut expected = vec![
        "0190a000-0000-7000-8000-000000000001".to_owned(),
        "0190a000-0000-7000-8000-000000000002".to_owned(),
    ];
    expected.extend(id.as_string());
    assert_eq!(
        relay_ids(&ch).await,
        expected,
        "the old entries first, in order"
    );
    c.close();
}

/// Opens `name` at version 2 as a newer build in another tab would: "opened", or "blocked"
/// if a connection of this page did not step aside.
async fn upgrade_elsewhere(name: &JsValue) -> String {
    run_js(
        "name",
        "return new Promise((ok, fail) => { const r = indexedDB.open(name, 2); \
         r.onblocked = () => ok('blocked'); r.onerror = () => fail(r.error); \
         r.onsuccess = () => { r.result.close(); ok('opened'); }; });",
        &[name.clone()],
    )
    .await
    .as_string()
    .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn a_newer_version_opened_elsewhere_is_not_blocked_by_a_client_open_or_dropped() {
    fresh_relay().await;
    // An open client closes its connection on versionchange, then says it is degraded.
    let key = channel("upgrade");
    let c = client(&format!(r#""storageKey":"{key}""#));
    // The relay is down, so a socket error may come after the storage's: all are recorded.
    let errors = Recorder::new();
    let _stop = c.on_error(errors.function.clone());
    wait_until("storage loaded", 5_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("indexeddb")
    })
    .await;
    let name = JsValue::from_str(&format!("syncline:{key}"));
    assert_eq!(upgrade_elsewhere(&name).await, "opened");
    wait_open(&c).await;
    let acked = settle(publish(&c, &channel("upgrade-ch"), 1))
        .await
        .unwrap();
    assert_eq!(get(&acked, "status").as_string().as_deref(), Some("acked"));
    wait_until("write failure reported", 2_000, || {
        outbox_field(&c, "degraded") == JsValue::TRUE
    })
    .await;
    c.close();

    // A dropped client leaves no connection behind.
    let key = channel("upgrade-dropped");
    let c = client(&format!(r#""storageKey":"{key}""#));
    // The relay is down, so a socket error may come after the storage's: all are recorded.
    let errors = Recorder::new();
    let _stop = c.on_error(errors.function.clone());
    wait_until("storage loaded", 5_000, || {
        outbox_field(&c, "storage").as_string().as_deref() == Some("indexeddb")
    })
    .await;
    c.close();
    drop(c);
    sleep(50).await;
    let name = JsValue::from_str(&format!("syncline:{key}"));
    assert_eq!(upgrade_elsewhere(&name).await, "opened");
}
