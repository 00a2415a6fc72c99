//! Documents: merge laws, conflict strategies, rebase of pending changes, rollback, and
//! convergence of concurrent writers under every strategy — with property tests.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use syncline::core::docs::merge::{
    Side, Strategy as MergeStrategy, merge, resolve, without_duplicates,
};
use syncline::core::docs::{Docs, Mutation, Op};
use syncline::protocol::value::Value;

fn v(text: &str) -> Value {
    Value::from_text(text).expect("json")
}

fn no_resolver() -> impl FnMut(&syncline::core::docs::Conflict) -> Option<Value> {
    |_| None
}

#[test]
fn a_change_shows_at_once_and_is_confirmed_by_its_event() {
    let mut docs = Docs::new(MergeStrategy::LastWriterWins, 500);
    let m = docs.mutate(
        "m1".into(),
        "match:7",
        Op::Patch(v(r#"{"home":1}"#)),
        100,
        "a",
    );
    assert_eq!(docs.visible("match:7"), v(r#"{"home":1}"#));
    assert_eq!(docs.view("match:7").map(|d| d.pending), Some(1));
    docs.apply(1, m, 0, &mut no_resolver());
    let view = docs.view("match:7").expect("known");
    assert_eq!((view.version, view.pending), (1, 0));
    assert_eq!(*view.value, v(r#"{"home":1}"#));
    assert_eq!(docs.take_changed(), vec!["match:7".to_owned()]);
}

#[test]
fn a_refused_change_is_rolled_back() {
    let mut docs = Docs::new(MergeStrategy::LastWriterWins, 500);
    let first = docs.mutate("m1".into(), "k", Op::Set(v("1")), 1, "a");
    docs.apply(1, first, 0, &mut no_resolver());
    docs.mutate("m2".into(), "k", Op::Set(v("2")), 2, "a");
    docs.mutate("m3".into(), "k", Op::Patch(v(r#"{"x":1}"#)), 3, "a");
    assert_eq!(docs.visible("k"), v(r#"{"x":1}"#));
    assert_eq!(docs.rollback("m3"), Some("k".to_owned()));
    assert_eq!(docs.visible("k"), v("2"), "the other pending change stays");
    assert_eq!(docs.rollback("m2"), Some("k".to_owned()));
    assert_eq!(docs.visible("k"), v("1"), "back to the confirmed value");
    assert_eq!(docs.rollback("nope"), None);
}

#[test]
fn pending_changes_are_rebased_on_a_server_update() {
    let mut docs = Docs::new(MergeStrategy::LastWriterWins, 500);
    docs.mutate(
        "mine".into(),
        "k",
        Op::Patch(v(r#"{"mine":true}"#)),
        10,
        "a",
    );
    // Someone else's change arrives first (based on the same version 0: no conflict yet,
    // since nothing was written after it).
    let theirs = Mutation {
        id: "theirs".into(),
        key: "k".into(),
        base: 0,
        op: Op::Set(v(r#"{"theirs":true}"#)),
        ts: 5,
        by: "b".into(),
    };
    docs.apply(1, theirs, 0, &mut no_resolver());
    assert_eq!(
        docs.visible("k"),
        v(r#"{"theirs":true,"mine":true}"#),
        "mine replayed on theirs"
    );
}

#[test]
fn a_run_of_one_writer_is_not_a_conflict() {
    let mut docs = Docs::new(MergeStrategy::ServerWins, 500);
    let a = docs.mutate("a".into(), "k", Op::Set(v("1")), 1, "me");
    let b = docs.mutate("b".into(), "k", Op::Set(v("2")), 2, "me");
    docs.apply(1, a, 0, &mut no_resolver());
    docs.apply(2, b, 0, &mut no_resolver());
    assert_eq!(
        docs.visible("k"),
        v("2"),
        "my second change was based on my first"
    );
    assert_eq!(docs.conflict_count(), 0);
}

#[test]
fn conflicts_are_settled_by_strategy_and_audited() {
    for (strategy, expected) in [
        (MergeStrategy::ServerWins, r#"{"n":1,"tags":["x"]}"#),
        (MergeStrategy::ClientWins, r#"{"n":2,"tags":["y"]}"#),
        (MergeStrategy::LastWriterWins, r#"{"n":2,"tags":["y"]}"#),
        (MergeStrategy::Merge, r#"{"n":2,"tags":["x","y"]}"#),
        (MergeStrategy::Custom, r#""custom""#),
    ] {
        let mut docs = Docs::new(strategy, 2);
        let first = Mutation {
            id: "1".into(),
            key: "k".into(),
            base: 0,
            op: Op::Set(v(r#"{"n":1,"tags":["x"]}"#)),
            ts: 10,
            by: "a".into(),
        };
        let concurrent = Mutation {
            id: "2".into(),
            key: "k".into(),
            base: 0,
            op: Op::Set(v(r#"{"n":2,"tags":["y"]}"#)),
            ts: 20,
            by: "b".into(),
        };
        let mut resolver = |_: &syncline::core::docs::Conflict| Some(v(r#""custom""#));
        docs.apply(1, first, 99, &mut resolver);
        docs.apply(2, concurrent, 99, &mut resolver);
        assert_eq!(docs.visible("k"), v(expected), "{strategy:?}");
        let audit: Vec<_> = docs.audit().collect();
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].strategy, audit[0].version, audit[0].at),
            (strategy, 2, 99)
        );
        assert_eq!(audit[0].resolved, v(expected));
    }
}

#[test]
fn the_audit_trail_is_bounded() {
    let mut docs = Docs::new(MergeStrategy::LastWriterWins, 3);
    for seq in 1..=10u64 {
        let m = Mutation {
            id: seq.to_string(),
            key: "k".into(),
            base: 0,
            op: Op::Set(v(&seq.to_string())),
            ts: seq,
            by: format!("w{seq}"),
        };
        docs.apply(seq, m, 0, &mut no_resolver());
    }
    assert_eq!(docs.conflict_count(), 9);
    let versions: Vec<u64> = docs.audit().map(|c| c.version).collect();
    assert_eq!(versions, vec![8, 9, 10]);
}

#[test]
fn mutations_travel_as_event_data_and_back() {
    let m = Mutation {
        id: "id1".into(),
        key: "k\"ey".into(),
        base: 7,
        op: Op::Patch(v(r#"{"a":[1,{"b":null}]}"#)),
        ts: 1_700_000_000_000,
        by: "client-1".into(),
    };
    assert_eq!(Mutation::decode(Some("id1"), &m.encode()), Some(m));
    assert_eq!(
        Mutation::decode(None, &v(r#"{"goal":1}"#).to_raw()),
        None,
        "ordinary events are not changes"
    );
    assert_eq!(
        Mutation::decode(None, &v(r#"{"syncline.doc":1,"key":"k"}"#).to_raw()),
        None,
        "no op"
    );
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u32..5).prop_map(|n| Value::Number(n.to_string())),
        "[a-c]".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-d]", inner), 0..4).prop_map(|fields| {
                let mut unique: Vec<(String, Value)> = Vec::new();
                for (k, v) in fields {
                    if !unique.iter().any(|(u, _)| *u == k) {
                        unique.push((k, v));
                    }
                }
                Value::Object(unique)
            }),
        ]
    })
}

fn has_duplicates(v: &Value) -> bool {
    match v {
        Value::Array(items) => {
            items
                .iter()
                .enumerate()
                .any(|(i, a)| items[i + 1..].contains(a))
                || items.iter().any(has_duplicates)
        }
        Value::Object(fields) => fields.iter().any(|(_, v)| has_duplicates(v)),
        _ => false,
    }
}

fn strategy() -> impl proptest::strategy::Strategy<Value = MergeStrategy> {
    prop_oneof![
        Just(MergeStrategy::LastWriterWins),
        Just(MergeStrategy::ServerWins),
        Just(MergeStrategy::ClientWins),
        Just(MergeStrategy::Merge),
        Just(MergeStrategy::Custom),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn merge_is_idempotent(a in value(), b in value(), ts_a in 0u64..3, ts_b in 0u64..3) {
        let s = Side { value: &a, ts: ts_a, by: "a" };
        let c = Side { value: &b, ts: ts_b, by: "b" };
        let once = merge(&s, &c);
        let twice = merge(&Side { value: &once, ts: ts_a, by: "a" }, &c);
        prop_assert_eq!(&twice, &once);
    }

    #[test]
    fn union_has_no_duplicates_and_keeps_every_element(a in proptest::collection::vec(value(), 0..6), b in proptest::collection::vec(value(), 0..6)) {
        let (a, b) = (Value::Array(a), Value::Array(b));
        let merged = merge(&Side { value: &a, ts: 0, by: "a" }, &Side { value: &b, ts: 0, by: "b" });
        let Value::Array(items) = &merged else { panic!("an array") };
        prop_assert!(items.iter().enumerate().all(|(i, x)| !items[i + 1..].contains(x)));
        for x in [&a, &b] {
            let Value::Array(source) = x else { panic!("an array") };
            prop_assert!(source.iter().all(|e| items.contains(&without_duplicates(e.clone()))));
        }
        prop_assert!(!has_duplicates(&merged), "nowhere, nested arrays included");
    }

    #[test]
    fn server_and_client_wins_pick_their_side(a in value(), b in value(), ts in 0u64..5) {
        let s = Side { value: &a, ts, by: "a" };
        let c = Side { value: &b, ts: 5 - ts, by: "b" };
        prop_assert_eq!(resolve(MergeStrategy::ServerWins, &s, &c), a.clone());
        prop_assert_eq!(resolve(MergeStrategy::ClientWins, &s, &c), b.clone());
    }

    /// Rebase: after any mix of this client's changes, others' changes, confirmations and
    /// refusals, the visible value is the server's value with the still-pending changes
    /// replayed in order; and an observer that only sees the server's order agrees on the
    /// confirmed value.
    #[test]
    fn rebase_ends_at_server_state_plus_pending(
        steps in proptest::collection::vec((0u8..4, value(), any::<bool>()), 1..40),
        strategy in strategy(),
    ) {
        let mut me = Docs::new(strategy, 500);
        let mut observer = Docs::new(strategy, 500);
        let mut resolver = |c: &syncline::core::docs::Conflict| Some(merge(&Side { value: &c.server, ts: 0, by: "" }, &Side { value: &c.client, ts: 1, by: "" }));
        let mut seq = 0u64;
        let mut unsent: Vec<Mutation> = Vec::new();
        let mut n = 0;
        for (kind, val, patch) in steps {
            n += 1;
            let op = if patch { Op::Patch(val) } else { Op::Set(val) };
            match kind {
                0 => unsent.push(me.mutate(format!("mine{n}"), "k", op, n, "me")),
                1 => {
                    // Another writer's change, based on an older version now and then.
                    seq += 1;
                    let m = Mutation { id: format!("theirs{n}"), key: "k".into(), base: seq.saturating_sub(1 + n % 2), op, ts: n, by: "other".into() };
                    me.apply(seq, m.clone(), 0, &mut resolver);
                    observer.apply(seq, m, 0, &mut resolver);
                }
                2 if !unsent.is_empty() => {
                    // The server orders the oldest of mine.
                    seq += 1;
                    let m = unsent.remove(0);
                    me.apply(seq, m.clone(), 0, &mut resolver);
                    observer.apply(seq, m, 0, &mut resolver);
                }
                3 if !unsent.is_empty() => {
                    // The server refuses one of mine for good.
                    let m = unsent.remove(n as usize % unsent.len());
                    me.rollback(&m.id);
                }
                _ => {}
            }
        }
        let expected = unsent.iter().fold(observer.visible("k"), |v, m| match &m.op {
            Op::Set(x) => x.clone(),
            Op::Patch(p) => syncline::core::docs::merge::apply_patch(&v, p),
        });
        prop_assert_eq!(me.visible("k"), expected);
        prop_assert_eq!(me.view("k").map_or(0, |d| d.pending), unsent.len());
    }

    /// Two writers edit one key concurrently; whatever order the server picks, both end
    /// with the same value, under every strategy.
    #[test]
    fn concurrent_writers_converge(
        a_ops in proptest::collection::vec(value(), 1..5),
        b_ops in proptest::collection::vec(value(), 1..5),
        order in proptest::collection::vec(any::<bool>(), 10),
        strategy in strategy(),
    ) {
        let mut a = Docs::new(strategy, 500);
        let mut b = Docs::new(strategy, 500);
        let mut resolver = |c: &syncline::core::docs::Conflict| Some(merge(&Side { value: &c.server, ts: c.server_ts, by: &c.server_by }, &Side { value: &c.client, ts: c.client_ts, by: &c.client_by }));
        let mut from_a: Vec<Mutation> = a_ops.into_iter().enumerate().map(|(i, x)| a.mutate(format!("a{i}"), "k", Op::Set(x), i as u64, "a")).collect();
        let mut from_b: Vec<Mutation> = b_ops.into_iter().enumerate().map(|(i, x)| b.mutate(format!("b{i}"), "k", Op::Patch(x), i as u64, "b")).collect();
        let mut seq = 0;
        let mut pick = order.into_iter().cycle();
        while !from_a.is_empty() || !from_b.is_empty() {
            let take_a = !from_a.is_empty() && (from_b.is_empty() || pick.next().unwrap_or(true));
            let m = if take_a { from_a.remove(0) } else { from_b.remove(0) };
            seq += 1;
            a.apply(seq, m.clone(), 0, &mut resolver);
            b.apply(seq, m, 0, &mut resolver);
        }
        prop_assert_eq!(a.visible("k"), b.visible("k"));
        prop_assert_eq!(a.view("k").map(|d| d.pending), Some(0));
    }
}
