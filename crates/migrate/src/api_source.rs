//! Any [`ChromaApi`] as a source: a chroma-rs data folder (the embedded engine) or chroma-rs's
//! PostgreSQL storage (`postgres://…`, a `chroma-cluster` node with no server around it).
//! Everything is read through the trait, in pages of `get(limit, offset)` in insertion order,
//! so the migration needs nothing of the store's internals.

use crate::server_source::next_page;
use chroma_legacy::checks::metadata_quirks;
use chroma_legacy::{
    LegacyCollection, LegacyEmbedding, LegacyError, LegacyMetadata, LegacyRecord, LegacySource, LegacyValue, NameRules,
    Quirk, RecordBatches, RecordChecks, Result, SourceKind,
};
use chroma_types::{ChromaApi, Collection, GetRequest, Include, Metadata};

/// A chroma-rs store read through the Chroma API (a [`LegacySource`]).
pub struct ApiSource {
    api: Box<dyn ChromaApi>,
    /// Names the store in error messages (a folder path, a URL without its password).
    label: String,
}

fn api_err(context: String) -> impl FnOnce(chroma_types::Error) -> LegacyError {
    move |source| LegacyError::Api { context, source }
}

/// Metadata as the legacy readers hold it: through its JSON form, which keeps ints, floats,
/// bools, arrays and tagged sparse vectors apart (`convert` turns them back exactly).
fn legacy_metadata(m: &Metadata) -> LegacyMetadata {
    m.iter().map(|(k, v)| (k.clone(), LegacyValue::from_json(&v.to_json()))).collect()
}

impl ApiSource {
    /// Reads `api`; `label` names it in errors.
    pub fn new(api: Box<dyn ChromaApi>, label: impl Into<String>) -> ApiSource {
        ApiSource { api, label: label.into() }
    }

    fn collection_of(&self, c: &Collection) -> Result<LegacyCollection> {
        let mut quirks = Vec::new();
        if let Some(reason) = chroma_legacy::name_rejection(&c.name, NameRules::Stored) {
            quirks.push(Quirk::NameRejectedByNewRules { reason });
        }
        let metadata = c.metadata.as_ref().map(|m| {
            let m = legacy_metadata(m);
            metadata_quirks(&m, &mut quirks);
            m
        });
        let count =
            self.api.count(c.id).map_err(api_err(format!("{}: counting collection {:?}", self.label, c.name)))?;
        Ok(LegacyCollection {
            id: c.id.to_string(),
            name: c.name.clone(),
            metadata,
            tenant: c.tenant.clone(),
            database: c.database.clone(),
            dimension: c.dimension,
            space: Some(c.config.space.as_str().to_string()),
            // The effective HNSW settings (the 1.x form); `convert` keeps them.
            configuration_json: Some(c.config.to_v1x_json()),
            // Metadata-key indexes (discovered keys among them) and a sparse vector index.
            schema_json: Some(c.config.to_schema_json()),
            record_count_hint: Some(count as u64),
            quirks,
        })
    }
}

impl LegacySource for ApiSource {
    fn kind(&self) -> SourceKind {
        // The closest kind; the report names the store separately.
        SourceKind::Chroma04Plus
    }

    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>> {
        let ctx = |what: &str| format!("{}: listing {what}", self.label);
        let mut out = Vec::new();
        for t in self.api.list_tenants(None, 0).map_err(api_err(ctx("tenants")))? {
            for d in self.api.list_databases(&t.name, None, 0).map_err(api_err(ctx("databases")))? {
                out.push((t.name.clone(), d.name));
            }
        }
        Ok(out)
    }

    fn collections(&mut self) -> Result<Vec<LegacyCollection>> {
        let mut out = Vec::new();
        for (t, d) in self.tenants_and_databases()? {
            let cs = self
                .api
                .list_collections(&t, &d, None, 0)
                .map_err(api_err(format!("{}: listing the collections of {t}/{d}", self.label)))?;
            for c in &cs {
                out.push(self.collection_of(c)?);
            }
        }
        Ok(out)
    }

    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>> {
        let id = uuid::Uuid::parse_str(&collection.id)
            .map_err(|_| LegacyError::Format(format!("collection id {:?} is not a uuid", collection.id)))?;
        Ok(Box::new(Pages {
            src: self,
            coll: collection.clone(),
            id,
            batch: batch.max(1),
            offset: 0,
            checks: RecordChecks::unique_ids(collection.dimension),
            done: false,
        }))
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

struct Pages<'a> {
    src: &'a ApiSource,
    coll: LegacyCollection,
    id: uuid::Uuid,
    batch: usize,
    offset: usize,
    checks: RecordChecks,
    done: bool,
}

impl Pages<'_> {
    fn page(&mut self) -> Result<Vec<LegacyRecord>> {
        let req = GetRequest {
            limit: Some(self.batch),
            offset: Some(self.offset),
            include: vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris],
            ..GetRequest::default()
        };
        let ctx = format!("{}: reading collection {:?} at offset {}", self.src.label, self.coll.name, self.offset);
        let r = self.src.api.get(self.id, req).map_err(api_err(ctx))?;
        let mut embs = r.embeddings.unwrap_or_default().into_iter();
        let mut docs = r.documents.unwrap_or_default().into_iter();
        let mut uris = r.uris.unwrap_or_default().into_iter();
        let mut metas = r.metadatas.unwrap_or_default().into_iter();
        let mut out = Vec::with_capacity(r.ids.len());
        for (i, raw_id) in r.ids.into_iter().enumerate() {
            let pos = self.offset + i;
            let mut quirks = Vec::new();
            let id = self.checks.id(Some(raw_id), || format!("record #{pos}"), &mut quirks);
            let embedding = embs.next().map(LegacyEmbedding::F32);
            self.checks.embedding(embedding.as_ref(), Some("the store returned none"), &mut quirks);
            let document = docs.next().flatten();
            RecordChecks::document(document.as_deref(), &mut quirks);
            let metadata = metas.next().flatten().map(|m| {
                let m = legacy_metadata(&m);
                metadata_quirks(&m, &mut quirks);
                m
            });
            let origin = format!("{} record #{pos}", self.coll.name);
            out.push(LegacyRecord { id, embedding, document, uri: uris.next().flatten(), metadata, origin, quirks });
        }
        self.offset += out.len();
        Ok(out)
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Vec<LegacyRecord>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = self.page();
        next_page(&mut self.done, self.batch, page)
    }
}
