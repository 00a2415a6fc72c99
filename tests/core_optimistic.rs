//! Optimistic operations confirmed by the app's promise, driven natively: the change shows at
//! once, server values go under it, and it is committed or rolled back here and in the tabs
//! that heard of it.

mod sim;

use sim::Sim;
use syncline::core::docs::Op;
use syncline::core::tabs::{TabAction, TabBody, TabMessage};
use syncline::protocol::RawJson;
use syncline::protocol::value::Value;

fn json(text: &str) -> Value {
    Value::from_raw(&RawJson::parse(text).unwrap())
}

fn visible(s: &Sim, key: &str) -> (String, usize) {
    let view = s.core.document(key).expect("known");
    (
        RawJson::to_json(view.value).as_str().to_owned(),
        view.pending,
    )
}

/// What this tab told the others, as the other tab receives it.
fn steps(s: &mut Sim) -> Vec<RawJson> {
    s.tab_actions
        .drain(..)
        .filter_map(|a| match a {
            TabAction::Post {
                body: TabBody::Broadcast { topic, data },
                ..
            } if topic == syncline::core::optimistic::TOPIC => Some(data),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_shows_at_once_rebases_on_server_values_and_commits_with_the_result() {
    let mut s = Sim::with_storage(Sim::config());
    s.core
        .set_document(s.now, "w7", json(r#"{"value":1,"owner":"ann"}"#));
    s.core.begin_optimistic(
        s.now,
        "op1".into(),
        "w7",
        Op::Patch(json(r#"{"value":42}"#)),
    );
    s.pump();
    assert_eq!(
        visible(&s, "w7"),
        (r#"{"value":42,"owner":"ann"}"#.into(), 1)
    );
    // The server's update while the promise runs: under the pending change.
    s.core
        .set_document(s.now, "w7", json(r#"{"value":2,"owner":"bob"}"#));
    assert_eq!(
        visible(&s, "w7"),
        (r#"{"value":42,"owner":"bob"}"#.into(), 1)
    );
    s.core.settle_optimistic(
        s.now,
        "op1".into(),
        Some(Some(json(r#"{"value":42,"owner":"bob","rev":3}"#))),
    );
    assert_eq!(
        visible(&s, "w7"),
        (r#"{"value":42,"owner":"bob","rev":3}"#.into(), 0)
    );
}

#[test]
fn a_rejected_promise_rolls_back_and_without_a_result_the_change_is_kept() {
    let mut s = Sim::with_storage(Sim::config());
    s.core.set_document(s.now, "w", json(r#"{"value":1}"#));
    s.core
        .begin_optimistic(s.now, "a".into(), "w", Op::Patch(json(r#"{"value":5}"#)));
    s.core.settle_optimistic(s.now, "a".into(), None);
    assert_eq!(visible(&s, "w"), (r#"{"value":1}"#.into(), 0));
    s.core
        .begin_optimistic(s.now, "b".into(), "w", Op::Patch(json(r#"{"value":6}"#)));
    s.core.settle_optimistic(s.now, "b".into(), Some(None));
    assert_eq!(visible(&s, "w"), (r#"{"value":6}"#.into(), 0));
}

#[test]
fn other_tabs_follow_the_steps_and_roll_back_when_the_tab_goes() {
    let mut a = Sim::with_storage(Sim::config());
    let mut b = Sim::with_storage(Sim::config());
    for s in [&mut a, &mut b] {
        s.core.set_document(s.now, "w", json(r#"{"value":1}"#));
    }
    a.core
        .begin_optimistic(a.now, "x".into(), "w", Op::Patch(json(r#"{"value":2}"#)));
    a.pump();
    for step in steps(&mut a) {
        b.core.handle_optimistic_step(b.now, "tab-a", &step);
    }
    assert_eq!(
        visible(&b, "w"),
        (r#"{"value":2}"#.into(), 1),
        "the other tab shows it"
    );
    a.core
        .settle_optimistic(a.now, "x".into(), Some(Some(json(r#"{"value":3}"#))));
    a.pump();
    for step in steps(&mut a) {
        b.core.handle_optimistic_step(b.now, "tab-a", &step);
    }
    assert_eq!(
        visible(&b, "w"),
        (r#"{"value":3}"#.into(), 0),
        "committed there too"
    );

    a.core
        .begin_optimistic(a.now, "y".into(), "w", Op::Patch(json(r#"{"value":9}"#)));
    a.pump();
    for step in steps(&mut a) {
        b.core.handle_optimistic_step(b.now, "tab-a", &step);
    }
    assert_eq!(visible(&b, "w").1, 1);
    let bye = TabMessage {
        ns: "syncline:default".into(),
        from: "tab-a".into(),
        to: None,
        body: TabBody::Bye { term: 0 },
    };
    b.core.handle_bus_message(b.now, bye);
    assert_eq!(
        visible(&b, "w"),
        (r#"{"value":3}"#.into(), 0),
        "rolled back: its tab left"
    );
    b.core.handle_optimistic_step(
        b.now,
        "tab-a",
        &RawJson::parse(r#"{"step":"nonsense"}"#).unwrap(),
    );
    assert_eq!(visible(&b, "w").1, 0, "an unknown step changes nothing");
}

#[test]
fn the_steps_other_tabs_hear_keep_their_json() {
    let mut a = Sim::with_storage(Sim::config());
    a.core
        .begin_optimistic(a.now, "x".into(), "w", Op::Patch(json(r#"{"value":2}"#)));
    a.core
        .begin_optimistic(a.now, "y".into(), "w", Op::Set(json(r#"{"value":3}"#)));
    a.core.settle_optimistic(a.now, "x".into(), Some(None));
    a.core
        .settle_optimistic(a.now, "y".into(), Some(Some(json(r#"{"value":4}"#))));
    a.core
        .begin_optimistic(a.now, "z".into(), "w", Op::Patch(json(r#"{"value":5}"#)));
    a.core.settle_optimistic(a.now, "z".into(), None);
    a.pump();
    let texts: Vec<String> = steps(&mut a)
        .into_iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            r#"{"step":"begin","id":"x","key":"w","patch":{"value":2}}"#,
            r#"{"step":"begin","id":"y","key":"w","set":{"value":3}}"#,
            r#"{"step":"commit","id":"x"}"#,
            r#"{"step":"commit","id":"y","value":{"value":4}}"#,
            r#"{"step":"begin","id":"z","key":"w","patch":{"value":5}}"#,
            r#"{"step":"rollback","id":"z"}"#,
        ]
    );
    let mut b = Sim::with_storage(Sim::config());
    b.core.handle_optimistic_step(
        b.now,
        "tab-a",
        &RawJson::parse(r#"{"step":"begin","id":"q","patch":{"value":1}}"#).unwrap(),
    );
    assert!(
        b.core.document("w").is_none(),
        "a begin without its key is ignored"
    );
}
