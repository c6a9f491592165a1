// chromadb@1.8.1 (npm, the Chroma 0.4 era client; speaks /api/v1) against $CHROMA_URL.
// Reference: passes against the real Chroma 0.4.24 server.
//
// Note: this client resolves add/upsert/update/get/query/delete/modify/deleteCollection
// failures as `{ error }` objects instead of rejecting; createCollection/getCollection
// throw Error(error); count/list/heartbeat/version reject with the raw Response.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChromaClient } from "chromadb-v1";
import {
  CHROMA_URL, APIS, DIM, N, makeRecords, rng, randomVector, checkQueryRow,
  matchingIds, WHERE_CASES, WHERE_DOCUMENT_CASES, uniqueName, assertVecEqual, sorted,
} from "./common.js";

const SKIP = !APIS.includes("v1") && "CHROMA_API does not include v1";

// Never called: every call passes explicit embeddings.
const stubEF = {
  generate: async () => {
    throw new Error("stub embedding function called: the checks only use explicit embeddings");
  },
};

// The call succeeded (this client reports most failures as a resolved {error}).
function ok(res, what) {
  assert.ok(!(res && typeof res === "object" && !Array.isArray(res) && "error" in res && res.error),
    `${what}: server error ${describeErr(res)}`);
  return res;
}
// The call failed (either rejected or resolved with {error}).
async function fails(promise, what) {
  let res;
  try {
    res = await promise;
  } catch (e) {
    return e;
  }
  assert.ok(res && typeof res === "object" && res.error, `${what}: expected an error, got ${JSON.stringify(res)}`);
  return res.error;
}
function describeErr(res) {
  try {
    const e = res.error;
    if (e instanceof Response) return `HTTP ${e.status}`;
    return typeof e === "string" ? e : JSON.stringify(e);
  } catch { return String(res); }
}

describe("chromadb@1.8.1 (API v1)", { skip: SKIP }, () => {
  const client = new ChromaClient({ path: CHROMA_URL });
  const recs = makeRecords(42);
  const created = new Set();
  let main;

  async function create(name, metadata) {
    const c = await client.createCollection({ name, metadata, embeddingFunction: stubEF });
    created.add(name);
    return c;
  }
  async function populated(name, metadata) {
    const c = await create(name, metadata);
    ok(await c.add({ ids: recs.ids, embeddings: recs.embeddings, metadatas: recs.metadatas, documents: recs.documents }), "add 50");
    return c;
  }

  before(async () => {
    main = await populated(uniqueName("js1-main"));
  });

  after(async () => {
    for (const name of created) {
      try { await client.deleteCollection({ name }); } catch { /* gone */ }
    }
  });

  test("heartbeat", async () => {
    const hb = await client.heartbeat();
    assert.equal(typeof hb, "number");
    assert.ok(hb > 0);
  });

  test("version", async () => {
    const v = await client.version();
    assert.equal(typeof v, "string");
    assert.match(v, /^\d+\.\d+\.\d+/);
  });

  test("collections: create / get / getOrCreate / list / count / modify / delete", async () => {
    const name = uniqueName("js1-crud");
    const before = await client.countCollections();
    const md = { owner: "js", n: 3, x: 1.5 };

    const c = await create(name, md);
    assert.equal(c.name, name);
    assert.match(c.id, /^[0-9a-f-]{36}$/);
    assert.equal(await client.countCollections(), before + 1);

    await assert.rejects(client.createCollection({ name, embeddingFunction: stubEF }), "duplicate create throws");

    const g = await client.getCollection({ name, embeddingFunction: stubEF });
    assert.equal(g.id, c.id);
    assert.equal(g.name, name);
    assert.deepEqual(g.metadata, md);

    const goc = await client.getOrCreateCollection({ name, embeddingFunction: stubEF });
    assert.equal(goc.id, c.id);
    assert.deepEqual(goc.metadata, md);
    assert.equal(await client.countCollections(), before + 1);

    const name2 = uniqueName("js1-goc");
    const goc2 = await client.getOrCreateCollection({ name: name2, metadata: { k: "v" }, embeddingFunction: stubEF });
    created.add(name2);
    assert.notEqual(goc2.id, c.id);
    assert.deepEqual(goc2.metadata, { k: "v" });
    assert.equal(await client.countCollections(), before + 2);

    const listed = await client.listCollections();
    assert.ok(Array.isArray(listed), `list returned ${JSON.stringify(listed)}`);
    const mine = listed.find((x) => x.name === name);
    assert.ok(mine, "list contains created collection");
    assert.equal(mine.id, c.id);
    assert.deepEqual(mine.metadata, md);
    assert.ok(listed.some((x) => x.name === name2));
    const all = listed.map((x) => x.id);
    const paged = [];
    for (let off = 0; off < all.length; off += 2) {
      paged.push(...(await client.listCollections({ limit: 2, offset: off })).map((x) => x.id));
    }
    assert.deepEqual(paged, all);

    const renamed = uniqueName("js1-renamed");
    ok(await c.modify({ name: renamed, metadata: { owner: "js2", v: 2 } }), "modify");
    created.add(renamed);
    const r = await client.getCollection({ name: renamed, embeddingFunction: stubEF });
    assert.equal(r.id, c.id);
    assert.equal(r.metadata.owner, "js2");
    assert.equal(r.metadata.v, 2);
    await assert.rejects(client.getCollection({ name, embeddingFunction: stubEF }), "old name is gone");

    ok(await client.deleteCollection({ name: renamed }), "delete collection");
    ok(await client.deleteCollection({ name: name2 }), "delete collection 2");
    created.delete(renamed);
    created.delete(name2);
    await assert.rejects(client.getCollection({ name: renamed, embeddingFunction: stubEF }), "deleted collection is gone");
    await fails(client.deleteCollection({ name: renamed }), "delete missing collection");
    assert.equal(await client.countCollections(), before);
  });

  test("add 50 records with explicit embeddings; count; get returns them all", async () => {
    assert.equal(await main.count(), N);
    const got = ok(await main.get({ include: ["embeddings", "metadatas", "documents"] }), "get");
    assert.deepEqual(got.ids, recs.ids);
    for (let i = 0; i < N; i++) {
      assertVecEqual(got.embeddings[i], recs.embeddings[i], `embedding ${recs.ids[i]}`);
      assert.deepEqual(got.metadatas[i], recs.metadatas[i], `metadata ${recs.ids[i]}`);
      assert.equal(got.documents[i], recs.documents[i], `document ${recs.ids[i]}`);
    }
  });

  test("add of an existing id is ignored (no error, record unchanged)", async () => {
    ok(await main.add({ ids: [recs.ids[0]], embeddings: [new Array(DIM).fill(0.5)], documents: ["changed?"] }), "re-add");
    const g = ok(await main.get({ ids: [recs.ids[0]], include: ["documents", "embeddings"] }), "get");
    assert.equal(g.documents[0], recs.documents[0]);
    assertVecEqual(g.embeddings[0], recs.embeddings[0], "unchanged embedding");
    assert.equal(await main.count(), N);
  });

  test("get: ids, include, limit, offset", async () => {
    const g = ok(await main.get({ ids: [recs.ids[5], recs.ids[1], "does-not-exist", recs.ids[30]] }), "get ids");
    assert.deepEqual(sorted(g.ids), sorted([recs.ids[1], recs.ids[5], recs.ids[30]]));
    assert.equal(g.embeddings, null, "default include has no embeddings");
    for (let k = 0; k < g.ids.length; k++) {
      const i = recs.ids.indexOf(g.ids[k]);
      assert.equal(g.documents[k], recs.documents[i]);
      assert.deepEqual(g.metadatas[k], recs.metadatas[i]);
    }
    const e = ok(await main.get({ ids: [recs.ids[2]], include: ["embeddings"] }), "get embeddings");
    assertVecEqual(e.embeddings[0], recs.embeddings[2], "include embeddings");
    assert.equal(e.documents, null);
    assert.equal(e.metadatas, null);
    const m = ok(await main.get({ ids: [recs.ids[3]], include: ["metadatas"] }), "get metadatas");
    assert.deepEqual(m.metadatas[0], recs.metadatas[3]);
    assert.equal(m.documents, null);

    const ids = async (args) => ok(await main.get(args), `get ${JSON.stringify(args)}`).ids;
    assert.deepEqual(await ids({ limit: 7 }), recs.ids.slice(0, 7));
    assert.deepEqual(await ids({ limit: 7, offset: 10 }), recs.ids.slice(10, 17));
    assert.deepEqual(await ids({ limit: 100, offset: 45 }), recs.ids.slice(45));
    assert.deepEqual(await ids({ limit: 5, offset: 60 }), []);
    const pages = [];
    for (let off = 0; off < N; off += 8) pages.push(...(await ids({ limit: 8, offset: off })));
    assert.deepEqual(pages, recs.ids);
    assert.deepEqual(await ids({ where: { color: "red" }, limit: 3, offset: 1 }), matchingIds(recs, { color: "red" }).slice(1, 4));
    // peek
    const p = ok(await main.peek({ limit: 4 }), "peek");
    assert.deepEqual(p.ids, recs.ids.slice(0, 4));
  });

  for (const w of WHERE_CASES) {
    test(`where ${JSON.stringify(w)}: get and query`, async () => {
      const exp = matchingIds(recs, w);
      const g = ok(await main.get({ where: w, include: ["metadatas"] }), "get where");
      assert.deepEqual(sorted(g.ids), sorted(exp));
      const q = recs.embeddings[11];
      const qr = ok(await main.query({ queryEmbeddings: [q], nResults: 100, where: w, include: ["distances"] }), "query where");
      checkQueryRow("l2", q, recs, 100, qr.ids[0], qr.distances[0], new Set(exp), `query where ${JSON.stringify(w)}`);
    });
  }

  for (const wd of WHERE_DOCUMENT_CASES) {
    test(`whereDocument ${JSON.stringify(wd)}: get and query`, async () => {
      const exp = matchingIds(recs, null, wd);
      const g = ok(await main.get({ whereDocument: wd, include: ["documents"] }), "get whereDocument");
      assert.deepEqual(sorted(g.ids), sorted(exp));
      const q = recs.embeddings[23];
      const qr = ok(await main.query({ queryEmbeddings: [q], nResults: 5, whereDocument: wd }), "query whereDocument");
      checkQueryRow("l2", q, recs, 5, qr.ids[0], qr.distances[0], new Set(exp), `query whereDocument ${JSON.stringify(wd)}`);
    });
  }

  test("where + whereDocument combined", async () => {
    const w = { i: { $gte: 10 } };
    const wd = { $contains: "banana" };
    const exp = matchingIds(recs, w, wd);
    assert.ok(exp.length > 0);
    const g = ok(await main.get({ where: w, whereDocument: wd }), "get");
    assert.deepEqual(sorted(g.ids), sorted(exp));
  });

  test("query: n_results larger than the count; several query vectors; include", async () => {
    const r = rng(7);
    const qs = [randomVector(r), randomVector(r), recs.embeddings[9]];
    const res = ok(await main.query({ queryEmbeddings: qs, nResults: 500, include: ["distances", "metadatas", "documents", "embeddings"] }), "query");
    assert.equal(res.ids.length, 3);
    for (let k = 0; k < qs.length; k++) {
      checkQueryRow("l2", qs[k], recs, 500, res.ids[k], res.distances[k], null, `query ${k}`);
      assert.equal(res.ids[k].length, N);
      for (let r2 = 0; r2 < res.ids[k].length; r2++) {
        const i = recs.ids.indexOf(res.ids[k][r2]);
        assert.deepEqual(res.metadatas[k][r2], recs.metadatas[i]);
        assert.equal(res.documents[k][r2], recs.documents[i]);
        assertVecEqual(res.embeddings[k][r2], recs.embeddings[i], "query embeddings");
      }
    }
    assert.equal(res.ids[2][0], recs.ids[9]);
    assert.ok(Math.abs(res.distances[2][0]) < 1e-5);

    const small = ok(await main.query({ queryEmbeddings: [qs[0]], nResults: 3 }), "query 3");
    checkQueryRow("l2", qs[0], recs, 3, small.ids[0], small.distances[0], null, "nResults 3");
    assert.equal(small.embeddings, null, "default include has no embeddings");

    const w = { bucket: 2 };
    const f = ok(await main.query({ queryEmbeddings: [qs[1]], nResults: 40, where: w }), "query filtered");
    assert.equal(f.ids[0].length, matchingIds(recs, w).length);
  });

  for (const space of ["l2", "ip", "cosine"]) {
    test(`distance ${space} (metadata hnsw:space) matches brute force`, async () => {
      const c = await populated(uniqueName(`js1-${space}`), { "hnsw:space": space });
      const r = rng(100 + space.length);
      for (let t = 0; t < 5; t++) {
        const q = randomVector(r);
        for (const k of [1, 10, 50]) {
          const res = ok(await c.query({ queryEmbeddings: [q], nResults: k, include: ["distances"] }), "query");
          checkQueryRow(space, q, recs, k, res.ids[0], res.distances[0], null, `${space} q${t} k${k}`);
        }
      }
    });
  }

  test("dimension mismatch is an error (add, upsert, query)", async () => {
    const c = await create(uniqueName("js1-dim"));
    ok(await c.add({ ids: ["a"], embeddings: [[1, 2, 3]] }), "first add");
    await fails(c.add({ ids: ["b"], embeddings: [[1, 2]] }), "add 2-d");
    await fails(c.upsert({ ids: ["c"], embeddings: [[1, 2, 3, 4]] }), "upsert 4-d");
    await fails(c.query({ queryEmbeddings: [[1, 2]], nResults: 1 }), "query 2-d");
    assert.deepEqual(ok(await c.get(), "get").ids, ["a"]);
    assert.equal(await c.count(), 1);
    await fails(main.query({ queryEmbeddings: [[1, 2, 3]], nResults: 1 }), "3-d query on 8-d collection");
  });

  test("update / upsert / delete", async () => {
    const c = await populated(uniqueName("js1-mut"));
    const e = new Array(DIM).fill(0).map((_, j) => (j === 0 ? 1 : 0));

    ok(await c.update({ ids: [recs.ids[0]], metadatas: [{ color: "black", extra: "x" }] }), "update metadata");
    ok(await c.update({ ids: [recs.ids[1]], documents: ["new document one"], embeddings: [recs.embeddings[1]] }), "update document");
    ok(await c.update({ ids: [recs.ids[2]], embeddings: [e] }), "update embedding");
    ok(await c.update({ ids: ["missing-id"], metadatas: [{ a: 1 }] }), "update missing id is ignored");
    let g = ok(await c.get({ ids: recs.ids.slice(0, 3), include: ["metadatas", "documents", "embeddings"] }), "get");
    const at = (id) => g.ids.indexOf(id);
    assert.deepEqual(g.metadatas[at(recs.ids[0])], { ...recs.metadatas[0], color: "black", extra: "x" });
    assert.equal(g.documents[at(recs.ids[0])], recs.documents[0]);
    assert.equal(g.documents[at(recs.ids[1])], "new document one");
    assert.deepEqual(g.metadatas[at(recs.ids[1])], recs.metadatas[1]);
    assertVecEqual(g.embeddings[at(recs.ids[2])], e, "updated embedding");
    assert.equal(await c.count(), N);
    const q = ok(await c.query({ queryEmbeddings: [e], nResults: 1 }), "query");
    assert.equal(q.ids[0][0], recs.ids[2]);
    assert.ok(Math.abs(q.distances[0][0]) < 1e-5);
    assert.deepEqual(ok(await c.get({ whereDocument: { $contains: "new document" } }), "get").ids, [recs.ids[1]]);

    const e2 = new Array(DIM).fill(0).map((_, j) => (j === 1 ? 1 : 0));
    ok(await c.upsert({
      ids: [recs.ids[3], "new-1"],
      embeddings: [e2, e],
      metadatas: [{ color: "white" }, { i: 1000, color: "new" }],
      documents: ["upserted three", "brand new"],
    }), "upsert");
    assert.equal(await c.count(), N + 1);
    g = ok(await c.get({ ids: [recs.ids[3], "new-1"], include: ["metadatas", "documents", "embeddings"] }), "get");
    const at2 = (id) => g.ids.indexOf(id);
    assert.deepEqual(g.metadatas[at2(recs.ids[3])], { ...recs.metadatas[3], color: "white" });
    assert.equal(g.documents[at2(recs.ids[3])], "upserted three");
    assertVecEqual(g.embeddings[at2(recs.ids[3])], e2, "upserted embedding");
    assert.deepEqual(g.metadatas[at2("new-1")], { i: 1000, color: "new" });
    assert.equal(g.documents[at2("new-1")], "brand new");
    assert.deepEqual(ok(await c.get({ where: { i: { $gte: 1000 } } }), "get").ids, ["new-1"]);

    ok(await c.delete({ ids: [recs.ids[4], recs.ids[5], "nope"] }), "delete ids");
    assert.equal(await c.count(), N - 1);
    assert.deepEqual(ok(await c.get({ ids: [recs.ids[4], recs.ids[5]] }), "get").ids, []);
    const w = { bucket: 4 };
    const expW = matchingIds(recs, w);
    ok(await c.delete({ where: w }), "delete where");
    assert.equal(await c.count(), N - 1 - expW.length);
    assert.deepEqual(ok(await c.get({ where: w }), "get").ids, []);
    const wd = { $contains: "zebra" };
    const left = ok(await c.get({ include: ["documents"] }), "get");
    const expD = left.ids.filter((_, k) => left.documents[k].includes("zebra"));
    assert.ok(expD.length > 0);
    ok(await c.delete({ whereDocument: wd }), "delete whereDocument");
    assert.equal(await c.count(), N - 1 - expW.length - expD.length);
    assert.deepEqual(ok(await c.get({ whereDocument: wd }), "get").ids, []);
    const all = ok(await c.query({ queryEmbeddings: [recs.embeddings[4]], nResults: 100 }), "query");
    assert.equal(all.ids[0].length, await c.count());
    assert.ok(!all.ids[0].includes(recs.ids[4]));
    ok(await c.add({ ids: [recs.ids[4]], embeddings: [recs.embeddings[4]], documents: ["back"] }), "re-add deleted id");
    assert.deepEqual(ok(await c.get({ ids: [recs.ids[4]] }), "get").documents, ["back"]);
  });

  test("errors: record operations on a deleted collection", async () => {
    const c = await populated(uniqueName("js1-gone"));
    ok(await client.deleteCollection({ name: c.name }), "delete collection");
    created.delete(c.name);
    await fails(c.count(), "count");
    await fails(c.get(), "get");
    await fails(c.add({ ids: ["z"], embeddings: [new Array(DIM).fill(0)] }), "add");
    await fails(c.query({ queryEmbeddings: [new Array(DIM).fill(0)], nResults: 1 }), "query");
  });
});
