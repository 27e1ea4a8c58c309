//! Online defragmentation: the file shrinks to about the pages in use, the content stays the
//! same, and readers and the writer carry on between its steps.

use std::collections::BTreeMap;

use ringkv_store::{Db, PAGE_SIZE, ReadTxn, Table};

type Model = BTreeMap<(u8, Vec<u8>), Vec<u8>>;

const TABLES: [Table; 2] = [
    Table::DEFAULT,
    match Table::new(1) {
        Some(t) => t,
        None => panic!("the store has a second table"),
    },
];

fn value(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|i| (seed as usize + i) as u8).collect()
}

/// Every 997th key is 9 KB long, so some nodes span several pages and must move whole.
fn key(i: u32) -> Vec<u8> {
    let mut k = format!("key/{:08}", i.wrapping_mul(2_654_435_761) % 1_000_000).into_bytes();
    if i.is_multiple_of(997) {
        k.resize(9_000, b'~');
    }
    k
}

/// Values are mostly small, every 500th one an overflow run of a few pages.
fn value_for(i: u32) -> Vec<u8> {
    if i.is_multiple_of(500) {
        value(3 * PAGE_SIZE + 100, i)
    } else {
        value(60 + (i % 200) as usize, i)
    }
}

fn scan(db: &Db) -> Model {
    read_all(&db.begin_read())
}

/// Both tables as one snapshot sees them.
fn read_all(r: &ReadTxn) -> Model {
    let mut out = Model::new();
    for (t, table) in TABLES.iter().enumerate() {
        for kv in r.range(*table, b"", None).unwrap() {
            let (k, v) = kv.unwrap();
            out.insert((t as u8, k.to_vec()), v.to_vec());
        }
    }
    out
}

/// Fills both tables, checkpoints, then deletes all but every `keep`th key.
fn fill_then_thin(db: &Db, n: u32, keep: u32) -> Model {
    let mut model = Model::new();
    for (t, table) in TABLES.iter().enumerate() {
        let mut w = db.begin_write().unwrap();
        for i in 0..n {
            let (k, v) = (key(i), value_for(i));
            w.insert(*table, &k, &v).unwrap();
            model.insert((t as u8, k), v);
        }
        w.commit(true).unwrap();
    }
    for (t, table) in TABLES.iter().enumerate() {
        let mut w = db.begin_write().unwrap();
        for i in (0..n).filter(|i| !i.is_multiple_of(keep)) {
            let k = key(i);
            assert!(w.remove(*table, &k).unwrap());
            model.remove(&(t as u8, k));
        }
        w.commit(true).unwrap();
    }
    // Two more checkpoints, so the freed pages are free, not pending.
    for _ in 0..2 {
        db.begin_write().unwrap().commit(true).unwrap();
    }
    model
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn defragment_gives_the_free_pages_back_and_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path).unwrap();
    let model = fill_then_thin(&db, 30_000, 10);
    let before = db.size();
    let in_use = db.size_in_use();
    assert!(
        in_use < before / 2,
        "the test must leave most pages free: {in_use} of {before} bytes in use"
    );

    let report = db.defragment(&mut || {}).unwrap();
    eprintln!("{in_use} bytes in use; {report:?}");

    assert_eq!(report.size_before, before);
    assert_eq!(report.size_after, db.size());
    // Close to the pages in use: their count plus the slack a move needs.
    assert!(
        db.size() < in_use + in_use / 4 + 64 * PAGE_SIZE as u64,
        "{} bytes after defragment, {in_use} in use before, {before} before",
        db.size()
    );
    assert_eq!(file_len(&path), db.size());
    db.check().unwrap();
    assert_eq!(scan(&db), model);
    drop(db);

    let db = Db::open(&path).unwrap();
    db.check().unwrap();
    assert_eq!(scan(&db), model);
    // The shrunken file grows again as usual.
    let mut w = db.begin_write().unwrap();
    for i in 0..5_000 {
        w.insert(TABLES[0], &key(1_000_000 + i), &value_for(i))
            .unwrap();
    }
    w.commit(true).unwrap();
    db.check().unwrap();
}

/// The server's writes land between the steps, and a reader that began before the
/// defragment keeps reading its snapshot throughout; the pages it holds are not cut.
#[test]
fn writes_between_steps_and_an_old_reader_are_undisturbed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path).unwrap();
    let mut model = fill_then_thin(&db, 20_000, 8);
    let old = db.begin_read();
    let old_model = model.clone();

    let mut step = 0u32;
    let mut writes = |model: &mut Model| {
        step += 1;
        let mut w = db.begin_write().unwrap();
        for j in 0..20 {
            let i = step * 20 + j;
            let k = key(2_000_000 + i);
            w.insert(TABLES[0], &k, &value_for(i)).unwrap();
            model.insert((0, k), value_for(i));
            // Also delete a key the defragment may be moving right now.
            let gone = key(i * 8 % 20_000);
            if w.remove(TABLES[1], &gone).unwrap() {
                model.remove(&(1, gone));
            }
        }
        w.commit(step.is_multiple_of(7)).unwrap();
        // The old snapshot still reads exactly what it saw.
        assert_eq!(
            old.get(TABLES[1], &key(8)).unwrap().map(<[u8]>::to_vec),
            old_model.get(&(1, key(8))).cloned()
        );
    };
    db.defragment(&mut || writes(&mut model)).unwrap();

    assert_eq!(read_all(&old), old_model);
    db.check().unwrap();
    assert_eq!(scan(&db), model);

    // Once the reader is gone, a second defragment shrinks what the first could not.
    drop(old);
    let in_use = db.size_in_use();
    db.defragment(&mut || {}).unwrap();
    assert!(
        db.size() < in_use + in_use / 4 + 64 * PAGE_SIZE as u64,
        "{} bytes after the second defragment, {in_use} in use",
        db.size()
    );
    db.check().unwrap();
    assert_eq!(scan(&db), model);
    drop(db);
    let db = Db::open(&path).unwrap();
    db.check().unwrap();
    assert_eq!(scan(&db), model);
}

#[test]
fn a_compact_file_stays_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db")).unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..2_000 {
        w.insert(TABLES[0], &key(i), &value(100, i)).unwrap();
    }
    w.commit(true).unwrap();
    let model = scan(&db);
    let report = db.defragment(&mut || {}).unwrap();
    assert_eq!(report.size_after, report.size_before);
    db.check().unwrap();
    assert_eq!(scan(&db), model);
}
