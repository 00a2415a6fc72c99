//! The store alone: numbering, dedup, transactions, checkpoints, retention and pages.

use std::time::Duration;

use super::*;
#[test]
fn numbers_per_channel_and_dedups_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(
            store.insert("a", "c1", "e", "1", 0).unwrap(),
            Stored::New(1)
        );
        assert_eq!(
            store.insert("b", "c1", "e", "2", 0).unwrap(),
            Stored::New(2)
        );
        assert_eq!(
            store.insert("c", "c2", "e", "3", 0).unwrap(),
            Stored::New(1)
        );
        assert_eq!(
            store.insert("a", "c1", "e", "1", 0).unwrap(),
            Stored::Duplicate(1)
        );
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.head("c1"), 2);
    assert_eq!(
        store.insert("b", "c1", "e", "2", 0).unwrap(),
        Stored::Duplicate(2)
    );
    assert_eq!(
        store.insert("d", "c1", "e", "4", 0).unwrap(),
        Stored::New(3)
    );
    let replay = store.since("c1", 1, 10).unwrap();
    assert_eq!(replay.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(store.ids(Some("c2")).unwrap(), vec!["c".to_owned()]);
    assert_eq!(store.ids(None).unwrap().len(), 4);
}

#[test]
fn a_transaction_commits_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    let mut store = Store::open(&path).unwrap();
    let last = store
        .in_transaction(|s| {
            for n in 0..100 {
                s.insert(&format!("id-{n}"), "bulk", "e", "{}", 0)?;
            }
            Ok(s.head("bulk"))
        })
        .unwrap();
    assert_eq!(last, 100);
    // A failure inside rolls back the rows and the in-memory heads alike.
    let failed = store.in_transaction(|s| {
        s.insert("id-new", "bulk", "e", "{}", 0)?;
        s.db.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        Ok(())
    });
    assert!(failed.is_err());
    assert_eq!(store.head("bulk"), 100);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.head("bulk"), 100);
    assert_eq!(store.ids(Some("bulk")).unwrap().len(), 100);
    assert_eq!(
        store.insert("id-new", "bulk", "e", "{}", 0).unwrap(),
        Stored::New(101)
    );
}

#[test]
fn the_log_reaches_the_database_file_from_the_checkpointer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    let mut store = Store::open(&path).unwrap();
    let empty = std::fs::metadata(&path).unwrap().len();
    let pad = "x".repeat(200);
    for n in 0..2_000 {
        store.insert(&format!("id-{n}"), "c", "e", &pad, 0).unwrap();
    }
    // The writer never checkpoints (wal_autocheckpoint = 0); only the thread can have
    // copied these pages into the database file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&path).unwrap().len() < empty + 400_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint in 10 s: {} bytes",
            std::fs::metadata(&path).unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(store.ids(Some("c")).unwrap().len(), 2_000);
}

#[test]
fn the_writer_syncs_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("relay.sqlite")).unwrap();
    let journal: String = store
        .db
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    let synchronous: i64 = store
        .db
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .unwrap();
    // WAL with FULL (2) syncs the log at each commit; NORMAL (1) would only at checkpoints.
    assert_eq!((journal.as_str(), synchronous), ("wal", 2));
}

#[test]
fn retention_by_count_keeps_the_newest_and_remembers_removed_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    let mut store = Store::open(&path).unwrap();
    for n in 1..=10 {
        store.insert(&format!("a{n}"), "c", "e", "1", 0).unwrap();
    }
    store.insert("other", "d", "e", "1", 0).unwrap();
    let retention = Retention { events: 4, ms: 0 };
    assert_eq!(store.prune(retention, 0).unwrap(), 6);
    let page = store.page("c", 0, u64::MAX, 100).unwrap();
    assert_eq!(page.floor, 6);
    assert_eq!(
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    // A late retry of a removed id is a duplicate with its old seq, not a new event.
    assert_eq!(
        store.insert("a2", "c", "e", "1", 0).unwrap(),
        Stored::Duplicate(2)
    );
    assert_eq!(
        store.prune(retention, 0).unwrap(),
        0,
        "nothing more to remove"
    );
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.head("c"), 10);
    assert_eq!(store.head("d"), 1);
    assert_eq!(
        store.insert("a3", "c", "e", "1", 0).unwrap(),
        Stored::Duplicate(3)
    );
    assert_eq!(
        store.insert("a11", "c", "e", "1", 0).unwrap(),
        Stored::New(11)
    );
}

#[test]
fn retention_by_age_and_a_channel_emptied_keeps_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    let mut store = Store::open(&path).unwrap();
    for n in 1..=5 {
        store
            .insert(&format!("old{n}"), "c", "e", "1", 1_000)
            .unwrap();
    }
    store.insert("new", "c", "e", "1", 9_000).unwrap();
    store.insert("gone", "g", "e", "1", 1_000).unwrap();
    let removed = store
        .prune(
            Retention {
                events: 0,
                ms: 5_000,
            },
            10_000,
        )
        .unwrap();
    assert_eq!(removed, 6);
    assert_eq!(store.page("c", 2, u64::MAX, 10).unwrap().floor, 5);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.head("g"), 1, "an emptied channel keeps numbering on");
    assert_eq!(
        store.insert("g2", "g", "e", "1", 0).unwrap(),
        Stored::New(2)
    );
}

#[test]
fn a_page_stops_at_upto_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite");
    let mut store = Store::open(&path).unwrap();
    for n in 1..=20 {
        store.insert(&format!("p{n}"), "c", "e", "1", 0).unwrap();
    }
    let reader = open_reader(&path).unwrap();
    let page = read_page(&reader, "c", 3, 15, 5).unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6, 7, 8]
    );
    let page = read_page(&reader, "c", 12, 15, 5).unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![13, 14, 15]
    );
    assert_eq!(read_ids(&reader, Some("c")).unwrap().len(), 20);
}
