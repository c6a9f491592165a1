// Shared fixtures for the JS client checks: deterministic records, a brute-force
// nearest-neighbour oracle and a JS evaluator for `where` / `whereDocument` filters.
//
// Everything here is client-independent; v2.test.js (chromadb@3.5.0) and
// v1.test.js (chromadb@1.8.1) import it.

import assert from "node:assert/strict";

export const CHROMA_URL = process.env.CHROMA_URL || "http://127.0.0.1:8000";

// Which client lines to run: "v1", "v2" or "v1,v2" (default both).
export const APIS = (process.env.CHROMA_API || "v1,v2")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

export const DIM = 8;
export const N = 50;

// mulberry32: small deterministic PRNG so every run uses the same data.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Round to float32 and keep a few decimals so JSON stays short; values are what the
// server stores (float32), so comparisons of returned embeddings are exact after fround.
export function randomVector(r, dim = DIM) {
  const v = [];
  for (let j = 0; j < dim; j++) v.push(Math.fround(Math.round((r() * 2 - 1) * 1e4) / 1e4));
  return v;
}

const COLORS = ["red", "green", "blue", "amber", "violet"];
const WORDS = ["apple", "banana", "cherry", "damson", "elder"];

// 50 records. Every record has every metadata key (so `$ne`/`$nin` mean the same on
// 0.4.x, which ignores records lacking the key, and on 1.x, which includes them) and a
// document (so `$not_contains` also means the same). Floats are never integral, so they
// stay floats through JSON. Ids are zero-padded: lexical order == insertion order, so
// the 0.4.x get() ordering (by id) and the 1.x one (insertion) agree.
export function makeRecords(seed = 42) {
  const r = rng(seed);
  const ids = [];
  const embeddings = [];
  const metadatas = [];
  const documents = [];
  for (let i = 0; i < N; i++) {
    ids.push(`id-${String(i).padStart(3, "0")}`);
    embeddings.push(randomVector(r));
    metadatas.push({
      i,
      f: i + 0.5,
      color: COLORS[i % COLORS.length],
      even: i % 2 === 0,
      bucket: Math.floor(i / 10),
    });
    const w1 = WORDS[i % WORDS.length];
    const w2 = WORDS[(i * 3 + 1) % WORDS.length];
    documents.push(`record number ${i} mentions ${w1} and ${w2}${i % 7 === 0 ? " plus zebra" : ""}`);
  }
  return { ids, embeddings, metadatas, documents };
}

// ---------------------------------------------------------------------------------
// Distances, as Chroma defines them: l2 = squared euclidean, ip = 1 - dot,
// cosine = 1 - cos. Computed in float64 on the float32 inputs.
export function distance(space, a, b) {
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let j = 0; j < a.length; j++) {
    dot += a[j] * b[j];
    na += a[j] * a[j];
    nb += b[j] * b[j];
    const d = a[j] - b[j];
    l2 += d * d;
  }
  if (space === "l2") return l2;
  if (space === "ip") return 1 - dot;
  if (space === "cosine") return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb) || 1e-30);
  throw new Error(`unknown space ${space}`);
}

// Brute force: [{id, d}] ascending, restricted to `allowed` ids if given.
export function bruteForce(space, q, recs, k, allowed = null) {
  const out = [];
  for (let i = 0; i < recs.ids.length; i++) {
    if (allowed && !allowed.has(recs.ids[i])) continue;
    out.push({ id: recs.ids[i], d: distance(space, q, recs.embeddings[i]) });
  }
  out.sort((x, y) => x.d - y.d);
  return out.slice(0, k);
}

const TOL_ABS = 2e-4;
const TOL_REL = 2e-4;
export function close(a, b) {
  return Math.abs(a - b) <= TOL_ABS + TOL_REL * Math.max(Math.abs(a), Math.abs(b));
}

// Check one query row (ids + distances from the server) against the brute force.
// Robust to near-ties: the distance sequence must match the oracle's sorted top-k, and
// every returned id's reported distance must equal its true distance.
export function checkQueryRow(space, q, recs, k, gotIds, gotDists, allowed = null, label = "") {
  const exp = bruteForce(space, q, recs, k, allowed);
  assert.equal(gotIds.length, exp.length, `${label}: result count (got ${gotIds.length}, expected ${exp.length})`);
  assert.equal(new Set(gotIds).size, gotIds.length, `${label}: duplicate ids in result`);
  const byId = new Map(recs.ids.map((id, i) => [id, i]));
  for (let r = 0; r < exp.length; r++) {
    assert.ok(close(gotDists[r], exp[r].d),
      `${label}: rank ${r} distance ${gotDists[r]} != brute force ${exp[r].d} (expected id ${exp[r].id}, got ${gotIds[r]})`);
    const idx = byId.get(gotIds[r]);
    assert.ok(idx !== undefined, `${label}: unknown id ${gotIds[r]}`);
    if (allowed) assert.ok(allowed.has(gotIds[r]), `${label}: id ${gotIds[r]} does not satisfy the filter`);
    const trueD = distance(space, q, recs.embeddings[idx]);
    assert.ok(close(gotDists[r], trueD), `${label}: id ${gotIds[r]} reported distance ${gotDists[r]}, true ${trueD}`);
    if (r > 0) assert.ok(gotDists[r] >= gotDists[r - 1] - 1e-6, `${label}: distances not ascending at rank ${r}`);
  }
}

// ---------------------------------------------------------------------------------
// Filter evaluation in JS (the oracle for where / whereDocument).
function cmp(op, v, x) {
  switch (op) {
    case "$eq": return v === x;
    case "$ne": return v !== x;
    case "$gt": return v > x;
    case "$gte": return v >= x;
    case "$lt": return v < x;
    case "$lte": return v <= x;
    case "$in": return x.includes(v);
    case "$nin": return !x.includes(v);
    default: throw new Error(`oracle: unsupported operator ${op}`);
  }
}

export function evalWhere(w, md) {
  const keys = Object.keys(w);
  assert.equal(keys.length, 1, "oracle: where must have exactly one key");
  const k = keys[0];
  if (k === "$and") return w[k].every((s) => evalWhere(s, md));
  if (k === "$or") return w[k].some((s) => evalWhere(s, md));
  const cond = w[k];
  const v = md ? md[k] : undefined;
  if (cond !== null && typeof cond === "object") {
    const [op] = Object.keys(cond);
    if (v === undefined) return op === "$ne" || op === "$nin"; // 1.x semantics; fixtures avoid it
    return cmp(op, v, cond[op]);
  }
  return v === cond;
}

export function evalWhereDocument(w, doc) {
  const [k] = Object.keys(w);
  const x = w[k];
  switch (k) {
    case "$and": return x.every((s) => evalWhereDocument(s, doc));
    case "$or": return x.some((s) => evalWhereDocument(s, doc));
    case "$contains": return doc != null && doc.includes(x);
    case "$not_contains": return doc == null || !doc.includes(x);
    case "$regex": return doc != null && new RegExp(x).test(doc);
    case "$not_regex": return doc == null || !new RegExp(x).test(doc);
    default: throw new Error(`oracle: unsupported whereDocument operator ${k}`);
  }
}

export function matchingIds(recs, where, whereDocument) {
  const out = [];
  for (let i = 0; i < recs.ids.length; i++) {
    if (where && !evalWhere(where, recs.metadatas[i])) continue;
    if (whereDocument && !evalWhereDocument(whereDocument, recs.documents[i])) continue;
    out.push(recs.ids[i]);
  }
  return out;
}

// Every `where` operator, on ints, floats, strings and bools, plus $and/$or nesting.
// Each case is checked with get() and with query() against the JS oracle.
export const WHERE_CASES = [
  { color: "red" },                               // implicit $eq, string
  { i: 7 },                                       // implicit $eq, int
  { color: { $eq: "blue" } },
  { i: { $eq: 12 } },
  { f: { $eq: 20.5 } },
  { even: true },                                 // bool, implicit
  { even: { $eq: false } },
  { color: { $ne: "green" } },
  { i: { $ne: 3 } },
  { even: { $ne: true } },
  { i: { $gt: 40 } },
  { f: { $gt: 44.5 } },
  { i: { $gte: 45 } },
  { f: { $gte: 47.5 } },
  { i: { $lt: 5 } },
  { f: { $lt: 3.0 } },
  { i: { $lte: 4 } },
  { f: { $lte: 2.5 } },
  { i: { $gt: 10.5 } },                           // float operand against int values
  { f: { $lt: 4 } },                              // int operand against float values
  { color: { $in: ["red", "violet"] } },
  { i: { $in: [1, 2, 3, 99] } },
  { f: { $in: [0.5, 49.5] } },
  { color: { $nin: ["red", "green", "blue"] } },
  { i: { $nin: [0, 1, 2, 3, 4, 5] } },
  { $and: [{ color: "red" }, { i: { $gt: 20 } }] },
  { $or: [{ color: "amber" }, { i: { $lt: 3 } }] },
  { $and: [{ $or: [{ bucket: 1 }, { bucket: 3 }] }, { even: true }, { i: { $ne: 12 } }] },
  { $or: [{ $and: [{ i: { $gte: 10 } }, { i: { $lt: 13 } }] }, { color: { $in: ["violet"] } }] },
  { color: "no-such-color" },                      // matches nothing
];

export const WHERE_DOCUMENT_CASES = [
  { $contains: "zebra" },
  { $contains: "number 1" },
  { $not_contains: "apple" },
  { $and: [{ $contains: "banana" }, { $not_contains: "cherry" }] },
  { $or: [{ $contains: "damson" }, { $contains: "zebra" }] },
  { $contains: "no such text" },
];

// 1.x-only whereDocument operators (the 3.5.0 client / v2 servers).
export const WHERE_DOCUMENT_CASES_V2_ONLY = [
  { $regex: "number [0-9]7 " },
  { $not_regex: "e(lder|pple)" },
];

export function uniqueName(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export function f32(v) {
  return v.map((x) => Math.fround(x));
}

export function assertVecEqual(got, exp, label) {
  assert.equal(got.length, exp.length, `${label}: length`);
  for (let j = 0; j < exp.length; j++) {
    assert.ok(Math.abs(got[j] - Math.fround(exp[j])) <= 1e-6 * Math.max(1, Math.abs(exp[j])),
      `${label}: component ${j}: ${got[j]} != ${exp[j]}`);
  }
}

export function sorted(a) {
  return [...a].sort();
}

// The server under test answers for this API line?
export async function serves(prefix) {
  try {
    const r = await fetch(`${CHROMA_URL}${prefix}/heartbeat`);
    return r.ok;
  } catch {
    return false;
  }
}
