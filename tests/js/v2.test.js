// chromadb@3.5.0 (npm latest; speaks /api/v2) against the server at $CHROMA_URL.
// Reference: passes against the real Chroma 1.5.9 server.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  ChromaClient,
  ChromaClientError,
  ChromaNotFoundError,
  ChromaUniqueError,
} from "chromadb";
import {
  CHROMA_URL, APIS, DIM, N, makeRecords, rng, randomVector, checkQueryRow,
  matchingIds, WHERE_CASES, WHERE_DOCUMENT_CASES, WHERE_DOCUMENT_CASES_V2_ONLY,
  uniqueName, assertVecEqual, sorted, distance, close,
} from "./common.js";

const SKIP = !APIS.includes("v2") && "CHROMA_API does not include v2";

// An embedding function that must never be called: every call passes explicit embeddings.
const stubEF = {
  name: "stub-throws",
  generate: async () => {
    throw new Error("stub embedding function called: the checks only use explicit embeddings");
  },
};

function makeClient() {
  const u = new URL(CHROMA_URL);
  const ssl = u.protocol === "https:";
  return new ChromaClient({ host: u.hostname, port: Number(u.port || (ssl ? 443 : 80)), ssl });
}

describe("chromadb@3.5.0 (API v2)", { skip: SKIP }, () => {
  const client = makeClient();
  const recs = makeRecords(42);
  const created = new Set();
  let main; // l2 collection with the 50 records

  async function create(name, opts = {}) {
    const c = await client.createCollection({ name, embeddingFunction: null, ...opts });
    created.add(c.name);
    return c;
  }

  async function populated(name, opts = {}) {
    const c = await create(name, opts);
    await c.add({ ids: recs.ids, embeddings: recs.embeddings, metadatas: recs.metadatas, documents: recs.documents });
    return c;
  }

  before(async () => {
    main = await populated(uniqueName("js3-main"));
  });

  after(async () => {
    for (const name of created) {
      try { await client.deleteCollection({ name }); } catch { /* already gone */ }
    }
  });

  test("heartbeat", async () => {
    const hb = await client.heartbeat();
    assert.equal(typeof hb, "number");
    assert.ok(hb > 0, `heartbeat ${hb}`);
  });

  test("version", async () => {
    const v = await client.version();
    assert.equal(typeof v, "string");
    assert.match(v, /^\d+\.\d+\.\d+/);
  });

  test("collections: create / get / getOrCreate / list / count / modify / delete", async () => {
    const name = uniqueName("js3-crud");
    const before = await client.countCollections();

    const c = await create(name, { metadata: { owner: "js", n: 3, x: 1.5, flag: true } });
    assert.equal(c.name, name);
    assert.match(c.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(c.metadata, { owner: "js", n: 3, x: 1.5, flag: true });
    assert.equal(await client.countCollections(), before + 1);

    // duplicate create -> 409 -> ChromaUniqueError
    await assert.rejects(client.createCollection({ name, embeddingFunction: null }), ChromaUniqueError);

    const g = await client.getCollection({ name, embeddingFunction: stubEF });
    assert.equal(g.id, c.id);
    assert.equal(g.name, name);
    assert.deepEqual(g.metadata, { owner: "js", n: 3, x: 1.5, flag: true });

    const byId = await client.getCollectionById(c.id);
    assert.equal(byId.name, name);

    // getOrCreate on an existing name returns it unchanged
    const goc = await client.getOrCreateCollection({ name, embeddingFunction: null, metadata: { other: 1 } });
    assert.equal(goc.id, c.id);
    assert.equal(await client.countCollections(), before + 1);

    // getOrCreate on a new name creates it
    const name2 = uniqueName("js3-goc");
    const goc2 = await client.getOrCreateCollection({ name: name2, embeddingFunction: null, metadata: { k: "v" } });
    created.add(name2);
    assert.notEqual(goc2.id, c.id);
    assert.deepEqual(goc2.metadata, { k: "v" });
    assert.equal(await client.countCollections(), before + 2);

    const listed = await client.listCollections({ limit: 1000 });
    const names = listed.map((x) => x.name);
    assert.ok(names.includes(name), "list contains created collection");
    assert.ok(names.includes(name2), "list contains getOrCreate'd collection");
    const mine = listed.find((x) => x.name === name);
    assert.equal(mine.id, c.id);
    assert.deepEqual(mine.metadata, { owner: "js", n: 3, x: 1.5, flag: true });

    // list pagination: limit/offset windows tile the full listing
    const all = (await client.listCollections({ limit: 1000 })).map((x) => x.id);
    const paged = [];
    for (let off = 0; off < all.length; off += 2) {
      paged.push(...(await client.listCollections({ limit: 2, offset: off })).map((x) => x.id));
    }
    assert.deepEqual(paged, all);

    // modify: rename + new metadata
    const renamed = uniqueName("js3-renamed");
    await c.modify({ name: renamed, metadata: { owner: "js2", v: 2 } });
    created.add(renamed);
    const r = await client.getCollection({ name: renamed, embeddingFunction: stubEF });
    assert.equal(r.id, c.id);
    assert.equal(r.metadata.owner, "js2");
    assert.equal(r.metadata.v, 2);
    await assert.rejects(client.getCollection({ name, embeddingFunction: stubEF }), ChromaNotFoundError);

    // delete
    await client.deleteCollection({ name: renamed });
    await client.deleteCollection({ name: name2 });
    created.delete(renamed);
    created.delete(name2);
    await assert.rejects(client.getCollection({ name: renamed, embeddingFunction: stubEF }), ChromaNotFoundError);
    await assert.rejects(client.deleteCollection({ name: renamed }), ChromaNotFoundError);
    assert.equal(await client.countCollections(), before);
  });

  test("add 50 records with explicit embeddings; count; get returns them all", async () => {
    assert.equal(await main.count(), N);
    const got = await main.get({ include: ["embeddings", "metadatas", "documents"] });
    assert.deepEqual(got.ids, recs.ids);
    for (let i = 0; i < N; i++) {
      assertVecEqual(got.embeddings[i], recs.embeddings[i], `embedding ${recs.ids[i]}`);
      assert.deepEqual(got.metadatas[i], recs.metadatas[i], `metadata ${recs.ids[i]}`);
      assert.equal(got.documents[i], recs.documents[i], `document ${recs.ids[i]}`);
    }
  });

  test("add of an existing id is ignored (no error, record unchanged)", async () => {
    await main.add({ ids: [recs.ids[0]], embeddings: [new Array(DIM).fill(0.5)], documents: ["changed?"] });
    const g = await main.get({ ids: [recs.ids[0]], include: ["documents", "embeddings"] });
    assert.equal(g.documents[0], recs.documents[0]);
    assertVecEqual(g.embeddings[0], recs.embeddings[0], "unchanged embedding");
    assert.equal(await main.count(), N);
  });

  test("get: ids, include, limit, offset", async () => {
    const want = [recs.ids[5], recs.ids[1], "does-not-exist", recs.ids[30]];
    const g = await main.get({ ids: want });
    assert.deepEqual(sorted(g.ids), sorted([recs.ids[1], recs.ids[5], recs.ids[30]]));
    // default include: documents + metadatas, no embeddings
    assert.deepEqual(sorted(g.include), ["documents", "metadatas"]);
    for (let k = 0; k < g.ids.length; k++) {
      const i = recs.ids.indexOf(g.ids[k]);
      assert.equal(g.documents[k], recs.documents[i]);
      assert.deepEqual(g.metadatas[k], recs.metadatas[i]);
    }

    const e = await main.get({ ids: [recs.ids[2]], include: ["embeddings"] });
    assert.deepEqual(e.include, ["embeddings"]);
    assertVecEqual(e.embeddings[0], recs.embeddings[2], "include embeddings");
    assert.ok(e.documents.length === 0 || e.documents.every((d) => d == null), "documents not included");
    assert.ok(e.metadatas.length === 0 || e.metadatas.every((m) => m == null), "metadatas not included");

    const m = await main.get({ ids: [recs.ids[3]], include: ["metadatas"] });
    assert.deepEqual(m.metadatas[0], recs.metadatas[3]);

    const none = await main.get({ ids: [recs.ids[3]], include: [] });
    assert.deepEqual(none.ids, [recs.ids[3]]);

    assert.deepEqual((await main.get({ limit: 7 })).ids, recs.ids.slice(0, 7));
    assert.deepEqual((await main.get({ limit: 7, offset: 10 })).ids, recs.ids.slice(10, 17));
    assert.deepEqual((await main.get({ limit: 100, offset: 45 })).ids, recs.ids.slice(45));
    assert.deepEqual((await main.get({ offset: 48 })).ids, recs.ids.slice(48));
    assert.deepEqual((await main.get({ limit: 5, offset: 60 })).ids, []);
    // pages tile the whole collection
    const pages = [];
    for (let off = 0; off < N; off += 8) pages.push(...(await main.get({ limit: 8, offset: off, include: [] })).ids);
    assert.deepEqual(pages, recs.ids);
    // limit applies after filtering
    const flt = await main.get({ where: { color: "red" }, limit: 3, offset: 1 });
    assert.deepEqual(flt.ids, matchingIds(recs, { color: "red" }).slice(1, 4));
  });

  for (const w of WHERE_CASES) {
    test(`where ${JSON.stringify(w)}: get and query`, async () => {
      const exp = matchingIds(recs, w);
      const g = await main.get({ where: w, include: ["metadatas"] });
      assert.deepEqual(sorted(g.ids), sorted(exp));
      const q = recs.embeddings[11];
      const qr = await main.query({ queryEmbeddings: [q], nResults: 100, where: w, include: ["distances"] });
      checkQueryRow("l2", q, recs, 100, qr.ids[0], qr.distances[0], new Set(exp), `query where ${JSON.stringify(w)}`);
    });
  }

  for (const wd of [...WHERE_DOCUMENT_CASES, ...WHERE_DOCUMENT_CASES_V2_ONLY]) {
    test(`whereDocument ${JSON.stringify(wd)}: get and query`, async () => {
      const exp = matchingIds(recs, null, wd);
      const g = await main.get({ whereDocument: wd, include: ["documents"] });
      assert.deepEqual(sorted(g.ids), sorted(exp));
      const q = recs.embeddings[23];
      const qr = await main.query({ queryEmbeddings: [q], nResults: 5, whereDocument: wd });
      checkQueryRow("l2", q, recs, 5, qr.ids[0], qr.distances[0], new Set(exp), `query whereDocument ${JSON.stringify(wd)}`);
    });
  }

  test("where + whereDocument combined", async () => {
    const w = { i: { $gte: 10 } };
    const wd = { $contains: "banana" };
    const exp = matchingIds(recs, w, wd);
    assert.ok(exp.length > 0);
    const g = await main.get({ where: w, whereDocument: wd });
    assert.deepEqual(sorted(g.ids), sorted(exp));
  });

  test("query: n_results larger than the count; several query vectors; include", async () => {
    const r = rng(7);
    const qs = [randomVector(r), randomVector(r), recs.embeddings[9]];
    const res = await main.query({ queryEmbeddings: qs, nResults: 500, include: ["distances", "metadatas", "documents", "embeddings"] });
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
    // exact self-match is first, at distance 0
    assert.equal(res.ids[2][0], recs.ids[9]);
    assert.ok(Math.abs(res.distances[2][0]) < 1e-5);

    const small = await main.query({ queryEmbeddings: [qs[0]], nResults: 3 });
    checkQueryRow("l2", qs[0], recs, 3, small.ids[0], small.distances[0], null, "nResults 3");

    // n_results larger than the filtered set
    const w = { bucket: 2 };
    const f = await main.query({ queryEmbeddings: [qs[1]], nResults: 40, where: w });
    assert.equal(f.ids[0].length, matchingIds(recs, w).length);
  });

  for (const [space, how] of [["l2", "default"], ["ip", "configuration"], ["cosine", "metadata"]]) {
    test(`distance ${space} (${how}) matches brute force`, async () => {
      const opts = how === "configuration" ? { configuration: { hnsw: { space } } }
        : how === "metadata" ? { metadata: { "hnsw:space": space } } : {};
      const c = space === "l2" ? main : await populated(uniqueName(`js3-${space}`), opts);
      const r = rng(100 + space.length);
      for (let t = 0; t < 5; t++) {
        const q = randomVector(r);
        for (const k of [1, 10, 50]) {
          const res = await c.query({ queryEmbeddings: [q], nResults: k, include: ["distances"] });
          checkQueryRow(space, q, recs, k, res.ids[0], res.distances[0], null, `${space} q${t} k${k}`);
        }
      }
    });
  }

  test("dimension mismatch is an error (add, upsert, update, query)", async () => {
    const c = await create(uniqueName("js3-dim"));
    await c.add({ ids: ["a"], embeddings: [[1, 2, 3]] });
    await assert.rejects(c.add({ ids: ["b"], embeddings: [[1, 2]] }), ChromaClientError);
    await assert.rejects(c.upsert({ ids: ["c"], embeddings: [[1, 2, 3, 4]] }), ChromaClientError);
    await assert.rejects(c.update({ ids: ["a"], embeddings: [[1, 2]] }), ChromaClientError);
    await assert.rejects(c.query({ queryEmbeddings: [[1, 2]], nResults: 1 }), ChromaClientError);
    assert.deepEqual((await c.get()).ids, ["a"]);
    assert.equal(await c.count(), 1);
    // the main collection (dim 8) rejects a 3-d query
    await assert.rejects(main.query({ queryEmbeddings: [[1, 2, 3]], nResults: 1 }), ChromaClientError);
  });

  test("update / upsert / delete", async () => {
    const c = await populated(uniqueName("js3-mut"));
    const e = new Array(DIM).fill(0).map((_, j) => (j === 0 ? 1 : 0));

    // update: metadata merges key by key, document replaced, embedding replaced
    await c.update({ ids: [recs.ids[0]], metadatas: [{ color: "black", extra: "x" }] });
    // (documents without embeddings would make the client call its embedding function)
    await c.update({ ids: [recs.ids[1]], documents: ["new document one"], embeddings: [recs.embeddings[1]] });
    await c.update({ ids: [recs.ids[2]], embeddings: [e] });
    await c.update({ ids: ["missing-id"], metadatas: [{ a: 1 }] }); // ignored, no error
    let g = await c.get({ ids: recs.ids.slice(0, 3), include: ["metadatas", "documents", "embeddings"] });
    const at = (id) => g.ids.indexOf(id);
    assert.deepEqual(g.metadatas[at(recs.ids[0])], { ...recs.metadatas[0], color: "black", extra: "x" });
    assert.equal(g.documents[at(recs.ids[0])], recs.documents[0]);
    assert.equal(g.documents[at(recs.ids[1])], "new document one");
    assert.deepEqual(g.metadatas[at(recs.ids[1])], recs.metadatas[1]);
    assertVecEqual(g.embeddings[at(recs.ids[2])], e, "updated embedding");
    assert.equal(await c.count(), N);
    // the updated embedding is what query sees
    const q = await c.query({ queryEmbeddings: [e], nResults: 1 });
    assert.equal(q.ids[0][0], recs.ids[2]);
    assert.ok(Math.abs(q.distances[0][0]) < 1e-5);
    // the updated document is what whereDocument sees
    assert.deepEqual((await c.get({ whereDocument: { $contains: "new document" } })).ids, [recs.ids[1]]);

    // upsert: existing id (merge metadata, replace doc+embedding) and a new id
    const e2 = new Array(DIM).fill(0).map((_, j) => (j === 1 ? 1 : 0));
    await c.upsert({
      ids: [recs.ids[3], "new-1"],
      embeddings: [e2, e],
      metadatas: [{ color: "white" }, { i: 1000, color: "new" }],
      documents: ["upserted three", "brand new"],
    });
    assert.equal(await c.count(), N + 1);
    g = await c.get({ ids: [recs.ids[3], "new-1"], include: ["metadatas", "documents", "embeddings"] });
    const at2 = (id) => g.ids.indexOf(id);
    assert.deepEqual(g.metadatas[at2(recs.ids[3])], { ...recs.metadatas[3], color: "white" });
    assert.equal(g.documents[at2(recs.ids[3])], "upserted three");
    assertVecEqual(g.embeddings[at2(recs.ids[3])], e2, "upserted embedding");
    assert.deepEqual(g.metadatas[at2("new-1")], { i: 1000, color: "new" });
    assert.equal(g.documents[at2("new-1")], "brand new");
    assert.deepEqual((await c.get({ where: { i: { $gte: 1000 } } })).ids, ["new-1"]);

    // delete by ids (including a missing one)
    const d1 = await c.delete({ ids: [recs.ids[4], recs.ids[5], "nope"] });
    assert.equal(typeof d1.deleted, "number");
    assert.equal(await c.count(), N - 1);
    assert.deepEqual((await c.get({ ids: [recs.ids[4], recs.ids[5]] })).ids, []);
    // delete by where
    const w = { bucket: 4 };
    const expW = matchingIds(recs, w);
    await c.delete({ where: w });
    assert.equal(await c.count(), N - 1 - expW.length);
    assert.deepEqual((await c.get({ where: w })).ids, []);
    // delete by whereDocument
    const wd = { $contains: "zebra" };
    const left = (await c.get({ include: ["documents"] }));
    const expD = left.ids.filter((_, k) => left.documents[k].includes("zebra"));
    assert.ok(expD.length > 0);
    await c.delete({ whereDocument: wd });
    assert.equal(await c.count(), N - 1 - expW.length - expD.length);
    assert.deepEqual((await c.get({ whereDocument: wd })).ids, []);
    // deleted records no longer come back from query
    const all = await c.query({ queryEmbeddings: [recs.embeddings[4]], nResults: 100 });
    assert.equal(all.ids[0].length, await c.count());
    assert.ok(!all.ids[0].includes(recs.ids[4]));
    // delete by ids and re-add the same id works
    await c.add({ ids: [recs.ids[4]], embeddings: [recs.embeddings[4]], documents: ["back"] });
    assert.deepEqual((await c.get({ ids: [recs.ids[4]] })).documents, ["back"]);
  });

  test("errors: record operations on a deleted collection", async () => {
    const c = await populated(uniqueName("js3-gone"));
    await client.deleteCollection({ name: c.name });
    created.delete(c.name);
    await assert.rejects(c.count());
    await assert.rejects(c.get());
    await assert.rejects(c.add({ ids: ["z"], embeddings: [new Array(DIM).fill(0)] }));
    await assert.rejects(c.query({ queryEmbeddings: [new Array(DIM).fill(0)], nResults: 1 }));
  });

  test("distance sanity: float32 distances agree with a brute force on the wire values", () => {
    // pure-JS self-check of the oracle (keeps the definitions honest)
    const a = [1, 0, 0], b = [0, 1, 0];
    assert.ok(close(distance("l2", a, b), 2));
    assert.ok(close(distance("ip", a, a), 0));
    assert.ok(close(distance("cosine", [2, 0, 0], a), 0));
  });
});

// Every route this client can call must be in the list that crates/server/tests/side_by_side.rs
// sends to both chroma-rs and a real Chroma 1.5.9 (`JS_3_5_0_ROUTES`): a new client version with
// a new route fails here until the list (and the server) follow.
test("the side-by-side route list is this client's", { skip: SKIP }, async () => {
  const { readFile } = await import("node:fs/promises");
  const code = await readFile(new URL(import.meta.resolve("chromadb")), "utf8");
  const found = new Set();
  for (const m of code.matchAll(/url: "(\/api\/v2[^"]*)"/g)) {
    const before = code.slice(Math.max(0, m.index - 600), m.index);
    const calls = [...before.matchAll(/\.(get|post|put|patch|delete)\(/g)];
    found.add(`${calls.at(-1)[1].toUpperCase()} ${m[1]}`);
  }
  const rs = await readFile(new URL("../../crates/server/tests/side_by_side.rs", import.meta.url), "utf8");
  const block = rs.slice(rs.indexOf("const JS_3_5_0_ROUTES"), rs.indexOf("];", rs.indexOf("const JS_3_5_0_ROUTES")));
  const listed = new Set([...block.matchAll(/\("([A-Z]+)", "([^"]+)"\)/g)].map((m) => `${m[1]} ${m[2]}`));
  assert.deepEqual([...found].sort(), [...listed].sort());
});
