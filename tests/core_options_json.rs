//! `protocol: "json"` options, checked natively: the JSON an app would write goes through
//! serde into `core::options`, then into the JSON wire's settings; errors name the field.

use syncline::core::Protocol;
use syncline::core::options::{ClientOptions, ClientSetup, Identity, OptionsError};
use syncline::protocol::Delivery;
use syncline::protocol::json::{AnswerSpec, HeartbeatShapes, JsonConfig};
use syncline::protocol::value::Value;

/// Stands for the app's JS function: any JSON value here.
type F = serde_json::Value;

fn client(json: &str) -> Result<ClientSetup<F>, OptionsError> {
    let options: ClientOptions<F> = serde_json::from_str(json).map_err(|e| OptionsError::Type {
        path: "options".into(),
        message: e.to_string(),
    })?;
    options.into_setup(Identity {
        client_id: "client-1".into(),
        tab_id: "tab-1".into(),
        seed: 7,
    })
}

fn json_config(setup: &ClientSetup<F>) -> &JsonConfig {
    match &setup.config.protocol {
        Protocol::Json(config) => config,
        other => panic!("expected the JSON protocol, got {other:?}"),
    }
}

fn v(text: &str) -> Value {
    Value::from_text(text).expect("JSON")
}

#[test]
fn every_json_option_reaches_the_wire_settings() {
    let setup = client(
        r#"{"url":"ws://127.0.0.1:9000/ws","protocol":"json","delivery":"echo",
            "json":{"event":"type","channel":"meta.room","data":"payload","id":"id","seq":"seq",
              "answer":{"id":"id","match":[{"type":"ack"},{"type":"error"}],"result":"result","error":"err"},
              "hello":{"type":"auth","token":"{token}"},
              "subscribe":{"action":"subscribe","channel":"{channel}"},
              "unsubscribe":{"action":"unsubscribe","channel":"{channel}"},
              "resume":{"action":"resume","channel":"{channel}","since":"{since}"},
              "publish":{"type":"{event}","id":"{id}","payload":"{data}"},
              "request":{"requestId":"{id}","type":"{event}","params":"{data}"},
              "emit":{"type":"{event}","payload":"{data}"},
              "heartbeat":{"ping":{"type":"ping"},"pong":{"type":"pong"}},
              "encode":"fn"}}"#,
    )
    .unwrap();
    assert_eq!(
        setup.config.url, "ws://127.0.0.1:9000/ws",
        "the URL as it is"
    );
    assert_eq!(
        setup.config.request.retries, 0,
        "requests are not resent by default"
    );
    assert_eq!(setup.json_encode, Some(F::String("fn".into())));
    let c = json_config(&setup);
    let mut answer = AnswerSpec::new("id");
    answer.matches = vec![v(r#"{"type":"ack"}"#), v(r#"{"type":"error"}"#)];
    answer.result = Some("result".into());
    answer.error = "err".into();
    let mut want = JsonConfig::new("type");
    want.channel = Some("meta.room".into());
    want.data = Some("payload".into());
    want.id = Some("id".into());
    want.seq = Some("seq".into());
    want.answer = Some(answer);
    want.delivery = Delivery::Echo;
    want.heartbeat = Some(HeartbeatShapes {
        ping: v(r#"{"type":"ping"}"#),
        pong: v(r#"{"type":"pong"}"#),
    });
    let t = &mut want.templates;
    t.hello = Some(v(r#"{"type":"auth","token":"{token}"}"#));
    t.subscribe = Some(v(r#"{"action":"subscribe","channel":"{channel}"}"#));
    t.unsubscribe = Some(v(r#"{"action":"unsubscribe","channel":"{channel}"}"#));
    t.resume = Some(v(
        r#"{"action":"resume","channel":"{channel}","since":"{since}"}"#,
    ));
    t.publish = Some(v(r#"{"type":"{event}","id":"{id}","payload":"{data}"}"#));
    t.request = Some(v(
        r#"{"requestId":"{id}","type":"{event}","params":"{data}"}"#,
    ));
    t.emit = Some(v(r#"{"type":"{event}","payload":"{data}"}"#));
    assert_eq!(c, &want);
}

#[test]
fn the_least_a_json_client_needs_is_the_event_path_and_what_confirms_a_publish() {
    let setup = client(
        r#"{"url":"ws://localhost/ws","protocol":"json","delivery":"sent","json":{"event":"type","heartbeat":null}}"#,
    )
    .unwrap();
    let mut want = JsonConfig::new("type");
    want.delivery = Delivery::Sent;
    assert_eq!(json_config(&setup), &want);
    let single = client(r#"{"url":"ws://localhost/ws","protocol":"json","json":{"event":"t","answer":{"id":"id","match":{"t":"ack"}}}}"#).unwrap();
    assert_eq!(
        json_config(&single)
            .answer
            .as_ref()
            .map(|a| a.matches.clone()),
        Some(vec![v(r#"{"t":"ack"}"#)])
    );
}

#[test]
fn bad_json_options_are_refused_with_the_field_named() {
    let cases = [
        (
            r#"{"url":"ws://localhost/","protocol":"json"}"#,
            "options.json is required with protocol: \"json\"",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{}}"#,
            "options.json.event is required",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t"}}"#,
            "options.json.answer is required with delivery \"ack\" (the default), or choose delivery \"echo\" or \"sent\"",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","delivery":"echo","json":{"event":"t"}}"#,
            "options.json.id is required with delivery \"echo\": the path the publish id comes back at",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":""}}"#,
            "options.json.event must be a dotted path such as \"payload.id\"",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","data":"a..b"}}"#,
            "options.json.data must be a dotted path such as \"payload.id\"",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","publish":{"x":"{foo}"}}}"#,
            "options.json.publish: unknown placeholder {foo}",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","hello":{"a":["user:{who}"]}}}"#,
            "options.json.hello: unknown placeholder {who}",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","subscribe":"sub"}}"#,
            "options.json.subscribe must be an object or a list",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","answer":{}}}"#,
            "options.json.answer.id is required",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","answer":{"id":"id","match":"ack"}}}"#,
            "options.json.answer.match must be an object of path → value, or a list of them",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","heartbeat":{"ping":{"t":"ping"}}}}"#,
            "options.json.heartbeat.pong is required",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","heartbeat":{"ping":{"t":"{nope}"},"pong":{}}}}"#,
            "options.json.heartbeat.ping: unknown placeholder {nope}",
        ),
        (
            r#"{"url":"ws://localhost/","json":{"event":"t"}}"#,
            "options.json applies to protocol: \"json\" only",
        ),
        (
            r#"{"url":"ws://localhost/","delivery":"echo"}"#,
            "options.delivery applies to protocol: \"socket.io\" or \"json\" only",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","delivery":"later","json":{"event":"t"}}"#,
            "options.delivery must be one of \"ack\", \"echo\", \"sent\"",
        ),
        (
            r#"{"url":"ws://localhost/","protocol":"json","idField":"x","json":{"event":"t"}}"#,
            "options.idField applies to protocol: \"socket.io\" only",
        ),
    ];
    for (json, message) in cases {
        assert_eq!(client(json).unwrap_err().to_string(), message, "{json}");
    }
    // Misspelt members are refused, not ignored.
    let err =
        client(r#"{"url":"ws://localhost/","protocol":"json","json":{"event":"t","subcribe":{}}}"#)
            .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `subcribe`"),
        "{err}"
    );
}
