// The Search API through chromadb@3.5.0 (the 3.x JS client) against the server at $CHROMA_URL,
// checked against a brute-force reference computed here: a filtered Knn with select, Rrf of two
// Knn lists, arithmetic on ranks with defaults and paging, GroupBy with MinK, and a batch.
// Chroma 1.5.9's own local server refuses search ("not implemented for local executor"), so this
// file runs against chroma-rs only (scripts/js-tests.sh runs it with v2).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChromaClient, GroupBy, K, Knn, MinK, Rrf, Search } from "chromadb";
import { CHROMA_URL, APIS, makeRecords, rng, randomVector, uniqueName, distance, close } from "./common.js";

const SKIP = !APIS.includes("v2") && "CHROMA_API does not include v2";

function makeClient() {
  const u = new URL(CHROMA_URL);
  const ssl = u.protocol === "https:";
  return new ChromaClient({ host: u.hostname, port: Number(u.port || (ssl ? 443 : 80)), ssl });
}

// Sorted (score, id) pairs, lower first, ties by id: the order of every search result.
function ranked(pairs) {
  return pairs.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function assertScores(got, want) {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(close(g, want[i], 1e-4), `score ${i}: ${g} vs ${want[i]}`));
}

describe("chromadb@3.5.0 Search API", { skip: SKIP }, () => {
  const client = makeClient();
  const recs = makeRecords(7);
  const name = uniqueName("js3-search");
  const r = rng(99);
  let col;
  const l2 = (q) => recs.ids.map((id, i) => [id, distance("l2", q, recs.embeddings[i])]);

  before(async () => {
    col = await client.createCollection({ name, embeddingFunction: null });
    await col.add({ ids: recs.ids, embeddings: recs.embeddings, metadatas: recs.metadatas, documents: recs.documents });
  });

  after(async () => {
    try { await client.deleteCollection({ name }); } catch { /* already gone */ }
  });

  test("filtered Knn with select", async () => {
    const q = randomVector(r);
    const res = await col.search(
      new Search().where(K("even").eq(true)).rank(Knn({ query: q, limit: 20 })).limit(5)
        .select([K.DOCUMENT, K.SCORE, "i"]),
    );
    const want = ranked(l2(q).filter(([, ], i) => recs.metadatas[i].even)).slice(0, 5);
    assert.deepEqual(res.ids[0], want.map((w) => w[0]));
    assertScores(res.scores[0], want.map((w) => w[1]));
    const idx = want.map((w) => recs.ids.indexOf(w[0]));
    assert.deepEqual(res.documents[0], idx.map((i) => recs.documents[i]));
    assert.deepEqual(res.metadatas[0], idx.map((i) => ({ i: recs.metadatas[i].i })));
  });

  test("a filter matching nothing, and #id filters", async () => {
    const q = randomVector(r);
    let res = await col.search(new Search().where(K("color").eq("no such colour")).rank(Knn({ query: q })));
    assert.deepEqual(res.ids[0], []);
    const ids = [recs.ids[3], recs.ids[17], recs.ids[40]];
    res = await col.search(new Search().where(K.ID.isIn(ids)).rank(Knn({ query: q })).select([K.SCORE]));
    const want = ranked(l2(q).filter(([id]) => ids.includes(id)));
    assert.deepEqual(res.ids[0], want.map((w) => w[0]));
  });

  test("Rrf of two Knn lists, weighted", async () => {
    const q1 = randomVector(r), q2 = randomVector(r);
    const limit = 15, dflt = 1000, k = 60;
    const res = await col.search(
      new Search().rank(Rrf({
        ranks: [Knn({ query: q1, limit, returnRank: true, default: dflt }), Knn({ query: q2, limit, returnRank: true, default: dflt })],
        weights: [2, 1],
        k,
      })).limit(10).select([K.SCORE]),
    );
    const rankOf = (q) => new Map(ranked(l2(q)).slice(0, limit).map(([id], i) => [id, i]));
    const r1 = rankOf(q1), r2 = rankOf(q2);
    const cands = new Set([...r1.keys(), ...r2.keys()]);
    const score = (id) => -(2 / (k + (r1.has(id) ? r1.get(id) : dflt)) + 1 / (k + (r2.has(id) ? r2.get(id) : dflt)));
    const want = ranked([...cands].map((id) => [id, score(id)])).slice(0, 10);
    assert.deepEqual(res.ids[0], want.map((w) => w[0]));
    assertScores(res.scores[0], want.map((w) => w[1]));
  });

  test("arithmetic on ranks with defaults, and paging", async () => {
    const q1 = randomVector(r), q2 = randomVector(r);
    const a = Knn({ query: q1, limit: 20, default: 10 }), b = Knn({ query: q2, limit: 20, default: 10 });
    const res = await col.search(
      new Search().rank(a.multiply(0.7).add(b.multiply(0.3))).limit(6, 2).select([K.SCORE]),
    );
    const top = (q) => new Map(ranked(l2(q)).slice(0, 20));
    const d1 = top(q1), d2 = top(q2);
    const cands = new Set([...d1.keys(), ...d2.keys()]);
    const score = (id) => 0.7 * (d1.has(id) ? d1.get(id) : 10) + 0.3 * (d2.has(id) ? d2.get(id) : 10);
    const want = ranked([...cands].map((id) => [id, score(id)])).slice(2, 8);
    assert.deepEqual(res.ids[0], want.map((w) => w[0]));
    assertScores(res.scores[0], want.map((w) => w[1]));
  });

  test("GroupBy with MinK, and a batch of searches", async () => {
    const q = randomVector(r);
    const [grouped, plain] = await Promise.all([
      col.search([
        new Search().rank(Knn({ query: q, limit: 30 })).groupBy(new GroupBy([K("color")], new MinK([K.SCORE], 2)))
          .select([K.SCORE, "color"]),
        new Search().rank(Knn({ query: q, limit: 3 })),
      ]),
      Promise.resolve(null),
    ]);
    void plain;
    const list = ranked(l2(q)).slice(0, 30);
    const seen = new Map();
    const keep = [];
    for (const [id, d] of list) {
      const c = recs.metadatas[recs.ids.indexOf(id)].color;
      const n = seen.get(c) || 0;
      if (n < 2) keep.push([id, d]);
      seen.set(c, n + 1);
    }
    const want = ranked(keep);
    assert.deepEqual(grouped.ids[0], want.map((w) => w[0]));
    assert.deepEqual(grouped.ids[1], ranked(l2(q)).slice(0, 3).map((w) => w[0]));
    const rows = grouped.rows();
    assert.equal(rows.length, 2);
    assert.equal(rows[0][0].id, want[0][0]);
  });
});
