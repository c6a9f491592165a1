//! The in-memory filter index of a collection: `where` filters answered from memory instead of
//! `SQLite`, so a filtered query costs about what an unfiltered one does (issue 16).
//!
//! `SQLite` stays the source of truth. The index is built from it on the first filtered query
//! (one read transaction: the collection row, the live slots, every `metadata_index` row) and
//! is tagged with the state it reflects: `(cid, log_position, generation)`. Every write path
//! bumps `log_position` (add, upsert, update, delete) or `generation` (compaction), and a
//! fork is a new collection, so a query that finds a different tag in `SQLite` rebuilds the
//! index instead of trusting it ("rebuilt on doubt"). Immediate writes bring it up to date in
//! place, under the collection's index lock, from the write's plan (see
//! [`FilterIndex::apply_write`]); other changes drop it.
//!
//! Layout, per metadata key (array elements apart from scalar values, as `metadata_index`
//! keeps them with `in_array`): a roaring bitmap of slots per string and per boolean value,
//! and sorted `(value, slot)` columns for integers and floats, which serve equality, `$in`
//! and ranges by binary search. Postings are keyed by *slot*, the unit the vector index
//! searches; a slot that dies (delete, or a record moved to a new slot by a new embedding) is
//! only removed from the live set, and every answer is intersected with it. Slots are never
//! reused within a generation, so stale postings cannot come back to life.
//!
//! Document filters (`where_document`, `#document` inside `where`) are not indexed here: they
//! run as SQL (the trigram FTS table plus an exact check, see [`crate::sqlfilter`]) and their
//! slot sets are cached per filter until the next write.
//!
//! A filter is evaluated into a dense bit set over the slots (one bit per slot: 12.5 KB at
//! 100k), where `$and`/`$or`/`$not` are word-wise operations; the caller turns it into the
//! sorted slot list that [`chroma_index::Filter::Allowed`] takes.

use super::plan::{Target, WritePlan};
use super::StoredRecord;
use crate::error::ResultExt;
use crate::sqlfilter;
use chroma_types::filter::{Cmp, Scalar};
use chroma_types::{Dialect, Metadata, MetadataValue, Result, Where, WhereDocument};
use parking_lot::Mutex;
use roaring::RoaringBitmap;
use rusqlite::Connection;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;

/// The `SQLite` state an index reflects: `(cid, log_position, generation)`.
pub(super) type Tag = (i64, i64, i64);

/// Document filter results kept per index (each a slot set; cleared by every write).
const DOC_CACHE_ENTRIES: usize = 64;

/// The filter index of one collection.
pub(super) struct FilterIndex {
    tag: Tag,
    /// Slots of the collection's vector file (live or not): the length of the bit sets.
    slots: usize,
    /// Live slots, dense (one bit per slot): every answer starts from it.
    live: Bits,
    /// Scalar values, by key.
    scalars: HashMap<String, Postings>,
    /// Array elements, by key.
    arrays: HashMap<String, Postings>,
    docs: Mutex<DocCache>,
}

/// Cached document filter answers, oldest first.
#[derive(Default)]
struct DocCache {
    entries: VecDeque<(String, RoaringBitmap)>,
}

/// The postings of one key (scalar values or array elements).
#[derive(Default)]
struct Postings {
    strs: BTreeMap<String, RoaringBitmap>,
    /// Slots with any string value (for `$ne` / `$nin` without missing keys).
    any_str: RoaringBitmap,
    /// `[false, true]`.
    bools: [RoaringBitmap; 2],
    /// Sorted by value, then slot.
    ints: Vec<(i64, u32)>,
    /// Sorted by value (`total_cmp`), then slot.
    floats: Vec<(f64, u32)>,
}

/// One metadata value of a slot, as `metadata_index` stores it.
enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A dense bit set over slots.
#[derive(Clone)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, s: u32) {
        if let Some(w) = self.0.get_mut(s as usize >> 6) {
            *w |= 1u64 << (s & 63);
        }
    }
    fn clear(&mut self, s: u32) {
        if let Some(w) = self.0.get_mut(s as usize >> 6) {
            *w &= !(1u64 << (s & 63));
        }
    }
    /// Room for `n` slots.
    fn grow(&mut self, n: usize) {
        if self.0.len() < n.div_ceil(64) {
            self.0.resize(n.div_ceil(64), 0);
        }
    }
    fn from_bitmap(n: usize, b: &RoaringBitmap) -> Bits {
        let mut out = Bits::empty(n);
        out.or_bitmap(b);
        out
    }
    fn or_bitmap(&mut self, b: &RoaringBitmap) {
        for s in b {
            self.set(s);
        }
    }
    fn and(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn or(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    /// `live AND NOT self`.
    fn not_in(&self, live: &Bits) -> Bits {
        Bits(self.0.iter().zip(&live.0).map(|(a, l)| l & !a).collect())
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    /// The set slots, ascending.
    pub(super) fn to_slots(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.0.iter().map(|w| w.count_ones() as usize).sum());
        for (i, &w) in self.0.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                out.push((i as u32) << 6 | w.trailing_zeros());
                w &= w - 1;
            }
        }
        out
    }
}

/// Exact comparison of an integer with a float (as `SQLite` compares an INTEGER column with a
/// REAL value: no rounding of the integer to a float).
fn cmp_int_float(i: i64, f: f64) -> Ordering {
    // 2^63 as f64: every i64 is below it, and -2^63 is the least i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // In range, so the cast is exact.
    let ti = t as i64;
    match i.cmp(&ti) {
        Ordering::Equal => 0.0f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal),
        o => o,
    }
}

/// The index range of a sorted column whose values compare with the operand by `cmp`
/// (`Less`: the value is below the operand), for `op`. `$ne` is two ranges.
fn op_ranges<T>(col: &[T], cmp: impl Fn(&T) -> Ordering, op: Cmp) -> [std::ops::Range<usize>; 2] {
    let lo = col.partition_point(|x| cmp(x) == Ordering::Less);
    let hi = lo + col[lo..].partition_point(|x| cmp(x) == Ordering::Equal);
    let n = col.len();
    match op {
        Cmp::Eq => [lo..hi, 0..0],
        Cmp::Ne => [0..lo, hi..n],
        Cmp::Lt => [0..lo, 0..0],
        Cmp::Lte => [0..hi, 0..0],
        Cmp::Gt => [hi..n, 0..0],
        Cmp::Gte => [lo..n, 0..0],
    }
}

impl Postings {
    fn add(&mut self, slot: u32, v: &Value) {
        match v {
            Value::Str(s) => {
                self.strs.entry((*s).to_string()).or_default().insert(slot);
                self.any_str.insert(slot);
            }
            Value::Bool(b) => {
                self.bools[usize::from(*b)].insert(slot);
            }
            Value::Int(i) => self.ints.push((*i, slot)),
            Value::Float(f) => self.floats.push((*f, slot)),
        }
    }

    /// Sorts the numeric columns (after `add`s).
    fn sort(&mut self) {
        self.ints.sort_unstable();
        self.floats.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }

    /// Removes one slot's values (an in-place metadata update).
    fn remove(&mut self, slot: u32, v: &Value) {
        match v {
            Value::Str(s) => {
                if let Some(b) = self.strs.get_mut(*s) {
                    b.remove(slot);
                    if b.is_empty() {
                        self.strs.remove(*s);
                    }
                }
                self.any_str.remove(slot);
            }
            Value::Bool(b) => {
                self.bools[usize::from(*b)].remove(slot);
            }
            Value::Int(i) => {
                if let Ok(p) = self.ints.binary_search(&(*i, slot)) {
                    self.ints.remove(p);
                }
            }
            Value::Float(f) => {
                let key = (*f, slot);
                if let Ok(p) = self.floats.binary_search_by(|x| x.0.total_cmp(&key.0).then(x.1.cmp(&key.1))) {
                    self.floats.remove(p);
                }
            }
        }
    }

    /// Slots with a value `op value`, as `sqlfilter`'s `value_cond` selects rows.
    fn compare(&self, out: &mut Bits, op: Cmp, value: &Scalar) {
        match value {
            Scalar::Str(s) => {
                let b = |lo: Bound<&str>, hi: Bound<&str>, out: &mut Bits| {
                    for (_, bm) in self.strs.range::<str, _>((lo, hi)) {
                        out.or_bitmap(bm);
                    }
                };
                let s = s.as_str();
                match op {
                    Cmp::Eq => b(Bound::Included(s), Bound::Included(s), out),
                    Cmp::Ne => {
                        b(Bound::Unbounded, Bound::Excluded(s), out);
                        b(Bound::Excluded(s), Bound::Unbounded, out);
                    }
                    Cmp::Lt => b(Bound::Unbounded, Bound::Excluded(s), out),
                    Cmp::Lte => b(Bound::Unbounded, Bound::Included(s), out),
                    Cmp::Gt => b(Bound::Excluded(s), Bound::Unbounded, out),
                    Cmp::Gte => b(Bound::Included(s), Bound::Unbounded, out),
                }
            }
            Scalar::Bool(v) => {
                // `bool_value op v` over 0/1.
                let v = i32::from(*v);
                for (x, bm) in self.bools.iter().enumerate() {
                    let x = x as i32;
                    let hit = match op {
                        Cmp::Eq => x == v,
                        Cmp::Ne => x != v,
                        Cmp::Lt => x < v,
                        Cmp::Lte => x <= v,
                        Cmp::Gt => x > v,
                        Cmp::Gte => x >= v,
                    };
                    if hit {
                        out.or_bitmap(bm);
                    }
                }
            }
            Scalar::Int(i) => {
                let f = *i as f64;
                self.numeric(out, op, |x| x.cmp(i), |x| x.partial_cmp(&f).unwrap_or(Ordering::Less));
            }
            Scalar::Float(f) => {
                let f = *f;
                self.numeric(out, op, |x| cmp_int_float(*x, f), |x| x.partial_cmp(&f).unwrap_or(Ordering::Less));
            }
        }
    }

    fn numeric(
        &self,
        out: &mut Bits,
        op: Cmp,
        int_cmp: impl Fn(&i64) -> Ordering,
        float_cmp: impl Fn(&f64) -> Ordering,
    ) {
        for r in op_ranges(&self.ints, |x| int_cmp(&x.0), op) {
            self.ints[r].iter().for_each(|x| out.set(x.1));
        }
        for r in op_ranges(&self.floats, |x| float_cmp(&x.0), op) {
            self.floats[r].iter().for_each(|x| out.set(x.1));
        }
    }

    /// `$in` (`negate`: `$nin` over the rows that have a value of the operands' type), as
    /// `sqlfilter`'s `in_cond` selects rows.
    fn any_of(&self, out: &mut Bits, values: &[Scalar], negate: bool) {
        let Some(first) = values.first() else { return };
        match first {
            Scalar::Str(_) => {
                let mut hit = Bits::empty(out.0.len() * 64);
                for v in values {
                    if let Scalar::Str(s) = v {
                        if let Some(b) = self.strs.get(s.as_str()) {
                            hit.or_bitmap(b);
                        }
                    }
                }
                if negate {
                    hit = hit.not_in(&Bits::from_bitmap(out.0.len() * 64, &self.any_str));
                }
                out.or(&hit);
            }
            Scalar::Bool(_) => {
                for (x, bm) in self.bools.iter().enumerate() {
                    let listed = values.iter().any(|v| matches!(v, Scalar::Bool(b) if usize::from(*b) == x));
                    if listed != negate {
                        out.or_bitmap(bm);
                    }
                }
            }
            Scalar::Int(_) | Scalar::Float(_) => {
                let mut ints: Vec<i64> = values
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Int(i) => Some(*i),
                        Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
                        _ => None,
                    })
                    .collect();
                let mut floats: Vec<f64> = values
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Int(i) => Some(*i as f64),
                        Scalar::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect();
                ints.sort_unstable();
                floats.sort_unstable_by(f64::total_cmp);
                if negate {
                    let in_ints = |x: i64| ints.binary_search(&x).is_ok();
                    // Sorted by `total_cmp`, so also ordered by `partial_cmp` (which finds -0.0 = 0.0).
                    let in_floats =
                        |x: f64| floats.binary_search_by(|f| f.partial_cmp(&x).unwrap_or(Ordering::Less)).is_ok();
                    self.ints.iter().filter(|x| !in_ints(x.0)).for_each(|x| out.set(x.1));
                    self.floats.iter().filter(|x| !in_floats(x.0)).for_each(|x| out.set(x.1));
                } else {
                    for i in ints {
                        self.numeric_eq_int(out, i);
                    }
                    for f in floats {
                        for r in op_ranges(&self.floats, |x| x.0.partial_cmp(&f).unwrap_or(Ordering::Less), Cmp::Eq) {
                            self.floats[r].iter().for_each(|x| out.set(x.1));
                        }
                    }
                }
            }
        }
    }

    fn numeric_eq_int(&self, out: &mut Bits, i: i64) {
        let lo = self.ints.partition_point(|x| x.0 < i);
        self.ints[lo..].iter().take_while(|x| x.0 == i).for_each(|x| out.set(x.1));
    }

    fn heap_bytes(&self) -> usize {
        let strs: usize = self.strs.iter().map(|(k, b)| k.len() + b.serialized_size() + 48).sum();
        strs + self.any_str.serialized_size()
            + self.bools.iter().map(RoaringBitmap::serialized_size).sum::<usize>()
            + self.ints.capacity() * std::mem::size_of::<(i64, u32)>()
            + self.floats.capacity() * std::mem::size_of::<(f64, u32)>()
    }
}

/// Calls `f` with every value `metadata_index` holds for `md` (`true`: an array element).
fn for_each_value<'a>(md: &'a Metadata, mut f: impl FnMut(&'a str, bool, Value<'a>)) {
    for (k, v) in md {
        let k = k.as_str();
        match v {
            MetadataValue::Str(s) => f(k, false, Value::Str(s)),
            MetadataValue::Int(i) => f(k, false, Value::Int(*i)),
            MetadataValue::Float(x) => f(k, false, Value::Float(*x)),
            MetadataValue::Bool(b) => f(k, false, Value::Bool(*b)),
            MetadataValue::StrArray(a) => a.iter().for_each(|s| f(k, true, Value::Str(s))),
            MetadataValue::IntArray(a) => a.iter().for_each(|i| f(k, true, Value::Int(*i))),
            MetadataValue::FloatArray(a) => a.iter().for_each(|x| f(k, true, Value::Float(*x))),
            MetadataValue::BoolArray(a) => a.iter().for_each(|b| f(k, true, Value::Bool(*b))),
            // Not in `metadata_index` either: sparse vectors are searched, not filtered on.
            MetadataValue::Sparse(_) => {}
        }
    }
}

/// Reads a collection's `(cid, log_position, generation)` and slot count.
pub(super) fn current_tag(conn: &Connection, cid: i64) -> Result<(Tag, usize)> {
    let mut stmt = conn
        .prepare_cached("SELECT log_position, generation, slot_count FROM collections WHERE cid = ?1")
        .context("reading collection state")?;
    let (log, generation, slots): (i64, i64, i64) =
        stmt.query_row([cid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).context("reading collection state")?;
    Ok(((cid, log, generation), slots.max(0) as usize))
}

impl FilterIndex {
    /// Builds the index of collection `cid` from one consistent read of `SQLite`.
    pub(super) fn build(conn: &Connection, cid: i64) -> Result<FilterIndex> {
        let tx = conn.unchecked_transaction().context("building the filter index")?;
        let (tag, slots) = current_tag(&tx, cid)?;
        let mut live = Bits::empty(slots);
        {
            let mut stmt =
                tx.prepare("SELECT slot FROM records WHERE cid = ?1").context("building the filter index")?;
            let rows = stmt.query_map([cid], |r| r.get::<_, i64>(0)).context("building the filter index")?;
            for s in rows {
                live.set(s.context("building the filter index")? as u32);
            }
        }
        let mut idx = FilterIndex {
            tag,
            slots,
            live,
            scalars: HashMap::new(),
            arrays: HashMap::new(),
            docs: Mutex::new(DocCache::default()),
        };
        {
            let mut stmt = tx
                .prepare(
                    "SELECT r.slot, m.key, m.in_array, m.str_value, m.int_value, m.float_value, m.bool_value
                     FROM metadata_index m JOIN records r ON r.rid = m.rid WHERE m.cid = ?1",
                )
                .context("building the filter index")?;
            let mut rows = stmt.query([cid]).context("building the filter index")?;
            while let Some(r) = rows.next().context("building the filter index")? {
                let read = || -> rusqlite::Result<_> {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?,
                        r.get::<_, i64>(2)? != 0,
                        r.get_ref(3)?.as_str_or_null().map_err(rusqlite::Error::from)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<f64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                };
                let (slot, key, in_array, s, i, f, b) = read().context("building the filter index")?;
                let v = match (s, i, f, b) {
                    (Some(s), _, _, _) => Value::Str(s),
                    (_, Some(i), _, _) => Value::Int(i),
                    (_, _, Some(f), _) => Value::Float(f),
                    (_, _, _, Some(b)) => Value::Bool(b != 0),
                    _ => continue,
                };
                let map = if in_array { &mut idx.arrays } else { &mut idx.scalars };
                if let Some(p) = map.get_mut(key) {
                    p.add(slot as u32, &v);
                } else {
                    map.entry(key.to_string()).or_default().add(slot as u32, &v);
                }
            }
        }
        idx.scalars.values_mut().chain(idx.arrays.values_mut()).for_each(Postings::sort);
        tx.finish().context("building the filter index")?;
        Ok(idx)
    }

    /// The state this index reflects.
    pub(super) fn tag(&self) -> Tag {
        self.tag
    }

    /// Bytes of heap the index holds (approximate: roaring bitmaps by their serialized size).
    pub(super) fn heap_bytes(&self) -> usize {
        let keys = |m: &HashMap<String, Postings>| m.iter().map(|(k, p)| k.len() + 64 + p.heap_bytes()).sum::<usize>();
        self.live.0.len() * 8 + keys(&self.scalars) + keys(&self.arrays)
    }

    /// Brings the index from `before` to `after` with a committed write's plan; `existing`
    /// holds the records the write replaced, by id (their old metadata). Returns `false`
    /// (changing nothing) when the index was not at `before`: the caller drops it.
    pub(super) fn apply_write(
        &mut self,
        before: Tag,
        after: Tag,
        plan: &WritePlan,
        existing: &HashMap<String, StoredRecord>,
    ) -> bool {
        if self.tag != before || plan.slot_count < 0 {
            return false;
        }
        let old_slots = self.slots;
        self.live.grow(plan.slot_count as usize);
        for s in &plan.removed_slots {
            self.live.clear(*s);
        }
        for p in &plan.records {
            let slot = p.slot as u32;
            let moved = p.slot as usize >= old_slots;
            if !moved && !p.metadata_changed {
                continue;
            }
            if !moved && p.target != Target::Insert {
                // Same slot, new metadata: take the old values out first.
                if let Some(old) = existing.get(&p.id).and_then(|r| r.metadata.as_ref()) {
                    let (scalars, arrays) = (&mut self.scalars, &mut self.arrays);
                    for_each_value(old, |k, arr, v| {
                        if let Some(ps) = if arr { arrays.get_mut(k) } else { scalars.get_mut(k) } {
                            ps.remove(slot, &v);
                        }
                    });
                }
            }
            if let Some(md) = p.metadata.as_ref() {
                let (scalars, arrays) = (&mut self.scalars, &mut self.arrays);
                for_each_value(md, |k, arr, v| {
                    let map = if arr { &mut *arrays } else { &mut *scalars };
                    map.entry(k.to_string()).or_default().add(slot, &v);
                });
            }
            self.live.set(slot);
        }
        // Numeric columns got appended values: restore their order. The stable sort on
        // purpose: it finds the long sorted run and merges the short tail into it in about one
        // pass, where the unstable sort would sort everything again.
        #[allow(clippy::stable_sort_primitive)]
        for ps in self.scalars.values_mut().chain(self.arrays.values_mut()) {
            if !ps.ints.is_sorted() {
                ps.ints.sort();
            }
            if !ps.floats.is_sorted_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_le()) {
                ps.floats.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            }
        }
        self.slots = self.slots.max(plan.slot_count as usize);
        self.docs.lock().entries.clear();
        self.tag = after;
        true
    }

    /// Marks deleted slots dead and moves to `after`; `false` when not at `before`.
    pub(super) fn apply_delete(&mut self, before: Tag, after: Tag, slots: impl Iterator<Item = u32>) -> bool {
        if self.tag != before {
            return false;
        }
        for s in slots {
            self.live.clear(s);
        }
        self.docs.lock().entries.clear();
        self.tag = after;
        true
    }

    /// The live slots passing both filters.
    pub(super) fn evaluate(
        &self,
        conn: &Connection,
        w: Option<&Where>,
        d: Option<&WhereDocument>,
        dialect: Dialect,
    ) -> Result<Bits> {
        let live = &self.live;
        let mut out = live.clone();
        if let Some(w) = w {
            let b = self.eval_where(conn, w, dialect, live)?;
            out.and(&b);
        }
        if let Some(d) = d {
            if !out.is_empty() {
                let b = self.eval_doc(conn, d, dialect)?;
                out.and(&b);
            }
        }
        Ok(out)
    }

    fn eval_where(&self, conn: &Connection, w: &Where, dialect: Dialect, live: &Bits) -> Result<Bits> {
        let n = self.slots;
        let rows = |array: bool, key: &str, f: &dyn Fn(&Postings, &mut Bits)| {
            let mut out = Bits::empty(n);
            let map = if array { &self.arrays } else { &self.scalars };
            if let Some(p) = map.get(key) {
                f(p, &mut out);
            }
            out
        };
        Ok(match w {
            Where::And(parts) => {
                let mut acc = live.clone();
                for p in parts {
                    if acc.is_empty() {
                        break;
                    }
                    acc.and(&self.eval_where(conn, p, dialect, live)?);
                }
                acc
            }
            Where::Or(parts) => {
                let mut acc = Bits::empty(n);
                for p in parts {
                    acc.or(&self.eval_where(conn, p, dialect, live)?);
                }
                acc
            }
            Where::Compare { key, op: Cmp::Ne, value } if dialect.ne_matches_missing => {
                rows(false, key, &|p, o| p.compare(o, Cmp::Eq, value)).not_in(live)
            }
            Where::Compare { key, op, value } => rows(false, key, &|p, o| p.compare(o, *op, value)),
            Where::In { key, values, negate: true } if dialect.ne_matches_missing => {
                rows(false, key, &|p, o| p.any_of(o, values, false)).not_in(live)
            }
            Where::In { key, values, negate } => rows(false, key, &|p, o| p.any_of(o, values, *negate)),
            Where::Contains { key, value, negate } => {
                let b = rows(true, key, &|p, o| p.compare(o, Cmp::Eq, value));
                if *negate {
                    b.not_in(live)
                } else {
                    b
                }
            }
            Where::Document(d) => self.eval_doc(conn, d, dialect)?,
        })
    }

    /// A document filter's slots: from the cache, else from `SQLite` (and then cached).
    fn eval_doc(&self, conn: &Connection, d: &WhereDocument, dialect: Dialect) -> Result<Bits> {
        // The dialect knobs that change a document filter's meaning are part of the key.
        let key = format!(
            "{}{}{}{d:?}",
            u8::from(dialect.contains_case_insensitive),
            u8::from(dialect.contains_needs_trigram),
            u8::from(dialect.not_contains_matches_missing_document)
        );
        if let Some((_, b)) = self.docs.lock().entries.iter().find(|(k, _)| *k == key) {
            return Ok(Bits::from_bitmap(self.slots, b));
        }
        let f = sqlfilter::compile(self.tag.0, None, Some(d), dialect);
        let q = format!("SELECT r.slot FROM records r WHERE r.cid = ? AND {}", f.sql);
        let mut params: Vec<rusqlite::types::Value> = vec![self.tag.0.into()];
        params.extend(f.params);
        let mut stmt = conn.prepare_cached(&q).context("filtering documents")?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))
            .context("filtering documents")?;
        let mut bm = RoaringBitmap::new();
        for s in rows {
            crate::budget::check()?;
            let s = s.context("filtering documents")?;
            // A slot past this index's state (a write committed meanwhile) is left out.
            if (s as usize) < self.slots {
                bm.insert(s as u32);
            }
        }
        let out = Bits::from_bitmap(self.slots, &bm);
        let mut cache = self.docs.lock();
        if cache.entries.len() >= DOC_CACHE_ENTRIES {
            cache.entries.pop_front();
        }
        cache.entries.push_back((key, bm));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_float_comparison_is_exact() {
        assert_eq!(cmp_int_float(2, 2.0), Ordering::Equal);
        assert_eq!(cmp_int_float(2, 2.5), Ordering::Less);
        assert_eq!(cmp_int_float(3, 2.5), Ordering::Greater);
        assert_eq!(cmp_int_float(-3, -2.5), Ordering::Less);
        assert_eq!(cmp_int_float(-2, -2.5), Ordering::Greater);
        assert_eq!(cmp_int_float(i64::MAX, 9.3e18), Ordering::Less);
        assert_eq!(cmp_int_float(i64::MIN, -9.3e18), Ordering::Greater);
        // 2^53 + 1 is not a float: it is above 2^53 as a float, not equal to it.
        assert_eq!(cmp_int_float((1 << 53) + 1, 9_007_199_254_740_992.0), Ordering::Greater);
    }

    #[test]
    fn ranges_and_bits() {
        let col = [1, 2, 2, 3, 5];
        let r = |op| op_ranges(&col, |x: &i32| x.cmp(&2), op);
        assert_eq!(r(Cmp::Eq), [1..3, 0..0]);
        assert_eq!(r(Cmp::Ne), [0..1, 3..5]);
        assert_eq!(r(Cmp::Lt), [0..1, 0..0]);
        assert_eq!(r(Cmp::Gte), [1..5, 0..0]);
        let mut b = Bits::empty(130);
        b.set(0);
        b.set(64);
        b.set(129);
        b.set(500); // out of range: ignored
        assert_eq!(b.to_slots(), vec![0, 64, 129]);
    }
}
