//! Sequence gaps and the server's limits, through the core with injected time: a jump in a
//! channel's sequence is asked for again from the last event seen and delivered in order; a
//! gap the server cannot fill, or one it reports, reaches the app as a `gap` event; frames to
//! a server that told its frame limit stay under it.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::Sim;
use syncline::core::Event;
use syncline::protocol::PeerLimits;
use syncline::protocol::envelope::{ClientMessage, RawJson, ServerMessage};

fn event(channel: &str, seq: u64) -> ServerMessage {
    ServerMessage::Event {
        channel: channel.into(),
        event: "e".into(),
        seq,
        id: None,
        data: RawJson::parse(seq.to_string()).expect("number"),
        spread: false,
    }
}

fn subscribed(channel: &str, seq: u64, since: Option<u64>) -> ServerMessage {
    ServerMessage::Subscribed {
        channel: channel.into(),
        seq,
        since,
    }
}

fn delivered(s: &mut Sim) -> Vec<u64> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(d) => Some(d.seq),
            _ => None,
        })
        .collect()
}

/// The `gap` events for one channel's missing events (drained with every other event).
fn missed(s: &mut Sim) -> Vec<(String, u64, u64)> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Missed { channel, from, to } => Some((channel, from, to)),
            _ => None,
        })
        .collect()
}

fn resubscribes(s: &mut Sim) -> Vec<Option<u64>> {
    s.take_sent()
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Subscribe { since, .. } => Some(since),
            _ => None,
        })
        .collect()
}

/// A subscriber live on "c" at sequence 1.
fn live_at_one() -> Sim {
    let mut s = Sim::with_storage(Sim::config());
    s.core.subscribe(s.now, "c", None, 0, None);
    s.open();
    assert_eq!(resubscribes(&mut s), vec![None]);
    s.receive(subscribed("c", 0, None));
    s.receive(event("c", 1));
    assert_eq!(delivered(&mut s), vec![1]);
    s
}

#[test]
fn a_jump_in_sequence_is_asked_for_again_and_delivered_in_order() {
    let mut s = live_at_one();
    // Events 2 and 3 never came (a frame the client refused, say): 4 and 5 are held back.
    s.receive(event("c", 4));
    s.receive(event("c", 5));
    assert_eq!(delivered(&mut s), Vec::<u64>::new(), "nothing out of order");
    assert_eq!(resubscribes(&mut s), vec![Some(1)], "asked once, from 1");
    // The relay replays 2..=5 then answers the subscribe; the live copies are dropped.
    for seq in 2..=5 {
        s.receive(event("c", seq));
    }
    s.receive(subscribed("c", 5, Some(1)));
    s.receive(event("c", 5));
    s.receive(event("c", 6));
    assert_eq!(delivered(&mut s), vec![2, 3, 4, 5, 6]);
    assert!(s.take_error_kinds().is_empty());
    assert_eq!(s.core.metrics(s.now).gaps_refetched, 1);
}

#[test]
fn a_gap_the_replay_cannot_fill_is_told_once_and_the_stream_goes_on() {
    let mut s = live_at_one();
    s.receive(event("c", 9));
    assert_eq!(resubscribes(&mut s), vec![Some(1)]);
    // The replay brings nothing: 2..=8 never come; 9, kept meanwhile, follows the gap event.
    s.receive(subscribed("c", 9, Some(1)));
    let events = s.take_events();
    let told: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Missed { channel, from, to } => Some(format!("gap {channel} {from}-{to}")),
            Event::Message(d) => Some(format!("event {}", d.seq)),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec!["gap c 2-8", "event 9"]);
    assert!(resubscribes(&mut s).is_empty(), "no loop of refetches");
    s.receive(event("c", 10));
    assert_eq!(delivered(&mut s), vec![10]);
    // A hole seen again at the same place after its refetch is told, not asked for again.
    s.receive(event("c", 13));
    assert_eq!(resubscribes(&mut s), vec![Some(10)]);
    s.receive(subscribed("c", 13, Some(10)));
    assert_eq!(missed(&mut s), vec![("c".to_owned(), 11, 12)]);
}

#[test]
fn events_past_a_gap_are_kept_and_follow_in_order_when_it_fills() {
    let mut s = live_at_one();
    for seq in [3, 5, 4] {
        s.receive(event("c", seq));
    }
    assert_eq!(delivered(&mut s), Vec::<u64>::new());
    assert_eq!(resubscribes(&mut s), vec![Some(1)]);
    // The replay's first event fills the gap: the kept ones follow at once, in order.
    s.receive(event("c", 2));
    assert_eq!(delivered(&mut s), vec![2, 3, 4, 5]);
    for seq in 3..=5 {
        s.receive(event("c", seq));
    }
    s.receive(subscribed("c", 5, Some(1)));
    assert_eq!(
        delivered(&mut s),
        Vec::<u64>::new(),
        "the replay's copies are dropped"
    );
    assert!(missed(&mut s).is_empty());
}

#[test]
fn a_gap_the_server_reports_reaches_the_app_and_later_events_flow() {
    let mut s = live_at_one();
    s.receive(ServerMessage::Gap {
        channel: "c".into(),
        from: 2,
        to: 40,
    });
    assert_eq!(missed(&mut s), vec![("c".to_owned(), 2, 40)]);
    s.receive(event("c", 41));
    assert_eq!(delivered(&mut s), vec![41]);
    assert!(resubscribes(&mut s).is_empty());
    // A gap already behind the stream says nothing.
    s.receive(ServerMessage::Gap {
        channel: "c".into(),
        from: 2,
        to: 30,
    });
    assert!(missed(&mut s).is_empty());
}

#[test]
fn frames_to_the_server_stay_under_the_limit_it_told() {
    let mut s = Sim::with_storage(Sim::config());
    s.connect();
    s.socket_opens();
    match s.take_sent().as_slice() {
        [ClientMessage::Hello { max, .. }] => assert_eq!(*max, Some(1 << 20)),
        other => panic!("{other:?}"),
    }
    s.receive(ServerMessage::Welcome {
        session: "s".into(),
        limits: Some(PeerLimits {
            frame: Some(2_000),
            ..PeerLimits::default()
        }),
    });
    s.frames.clear();
    let data = RawJson::parse(format!("\"{}\"", "x".repeat(300))).expect("string");
    for n in 0..20 {
        let id = format!("p{n}");
        s.core
            .publish(s.now, id, "c".into(), "e".into(), data.clone())
            .expect("accepted");
    }
    s.pump();
    let published = s
        .take_sent()
        .into_iter()
        .filter(|m| matches!(m, ClientMessage::Publish { .. }))
        .count();
    assert_eq!(published, 20, "every publish went out");
    assert!(s.frames.len() > 1, "split into several frames");
    assert!(
        s.frames.iter().all(|f| f.len() <= 2_000),
        "{:?}",
        s.frames.iter().map(String::len).collect::<Vec<_>>()
    );
}
