//! Where the records go ([`Destination`]) and the writes a run makes there: tenants,
//! databases, collections and batches of records.

use chroma_store::Engine;
use chroma_types::{AddRequest, ChromaApi, Collection, CreateCollection, Dialect, ErrorKind};
use uuid::Uuid;

use super::progress::Bar;
use crate::checksum::Record;
use crate::convert::CollectionPlan;
use crate::MigrateError;

/// Where the records go.
pub enum Destination {
    /// A chroma-rs data folder, written through the embedded engine (bulk load: the HNSW
    /// graph is built once per collection at the end; collection ids are kept).
    Folder(Engine),
    /// Anything that implements the Chroma API (an HTTP client, an in-process engine).
    /// `keeps_ids`: whether `CreateCollection.id` is honoured.
    Api {
        /// The destination.
        api: Box<dyn ChromaApi>,
        /// Its name in the report (when `--to` is not set).
        label: String,
        /// Whether `CreateCollection.id` is honoured.
        keeps_ids: bool,
    },
}

impl Destination {
    pub(super) fn api(&self) -> &dyn ChromaApi {
        match self {
            Destination::Folder(e) => e,
            Destination::Api { api, .. } => api.as_ref(),
        }
    }

    pub(super) fn keeps_ids(&self) -> bool {
        match self {
            Destination::Folder(_) => true,
            Destination::Api { keeps_ids, .. } => *keeps_ids,
        }
    }

    /// Turns records into what [`write`](Self::write) takes; for a folder this validates and
    /// converts them (the engine's `prepare_bulk`), so the reading thread does that work.
    pub(super) fn prepare(&self, coll: Uuid, recs: Vec<Record>) -> chroma_types::Result<Batch> {
        let req = add_request(recs);
        match self {
            Destination::Folder(e) => e.prepare_bulk(coll, req).map(Batch::Prepared),
            Destination::Api { .. } => Ok(Batch::Request(req)),
        }
    }

    pub(super) fn write(&self, coll: Uuid, batch: Batch) -> chroma_types::Result<()> {
        match (self, batch) {
            (Destination::Folder(e), Batch::Prepared(b)) => e.bulk_add_prepared(b),
            (Destination::Folder(e), Batch::Request(r)) => e.bulk_add(coll, r),
            (Destination::Api { api, .. }, Batch::Request(r)) => api.add(coll, r),
            (Destination::Api { .. }, Batch::Prepared(_)) => {
                Err(chroma_types::Error::internal("a prepared folder batch was sent to an API destination"))
            }
        }
    }

    /// Links a folder collection's graph now when asked (`--build-index`); otherwise the
    /// folder's next user links it in the background.
    pub(super) fn finish(&self, coll: Uuid, build_index: bool, bar: &Bar) -> chroma_types::Result<()> {
        match self {
            Destination::Folder(e) if build_index => e.build_index(coll, &|linked, total| {
                bar.set_message(format!("linking the index {linked}/{total}"));
            }),
            _ => Ok(()),
        }
    }

    /// Creates the tenant and the database unless they exist.
    pub(super) fn ensure_tenant_db(&self, t: &str, d: &str) -> Result<(), MigrateError> {
        let api = self.api();
        if let Err(e) = api.get_tenant(t) {
            if e.kind != ErrorKind::NotFound {
                return Err(MigrateError::destination("reading a tenant")(e));
            }
            api.create_tenant(t).map_err(MigrateError::destination("creating a tenant"))?;
        }
        if let Err(e) = api.get_database(t, d) {
            if e.kind != ErrorKind::NotFound {
                return Err(MigrateError::destination("reading a database")(e));
            }
            api.create_database(t, d).map_err(MigrateError::destination("creating a database"))?;
        }
        Ok(())
    }

    /// Creates the collection of `plan` (with the source's id where the destination keeps ids).
    pub(super) fn create(&self, plan: &CollectionPlan) -> Result<Collection, MigrateError> {
        let req = CreateCollection {
            name: plan.dest_name.clone(),
            metadata: plan.metadata.clone(),
            configuration: plan.configuration.clone(),
            get_or_create: false,
            schema: plan.schema.clone(),
            id: if self.keeps_ids() { parse_uuid(&plan.src.id) } else { None },
        };
        self.api()
            .create_collection(&plan.src.tenant, &plan.src.database, req)
            .map_err(MigrateError::destination(&format!("creating collection {:?}", plan.dest_name)))
    }
}

pub(super) fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

/// A batch on its way from the reading thread to the writing one.
pub(super) enum Batch {
    Prepared(chroma_store::PreparedBatch),
    Request(AddRequest),
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        match self {
            Batch::Prepared(b) => b.len(),
            Batch::Request(r) => r.ids.len(),
        }
    }
}

fn add_request(recs: Vec<Record>) -> AddRequest {
    let n = recs.len();
    let mut ids = Vec::with_capacity(n);
    let mut embs = Vec::with_capacity(n);
    let mut docs = Vec::with_capacity(n);
    let mut uris = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    for r in recs {
        ids.push(r.id);
        embs.push(r.embedding);
        docs.push(r.document);
        uris.push(r.uri);
        metas.push(r.metadata.filter(|m| !m.is_empty()));
    }
    let mut req = AddRequest::new(ids, embs).documents(docs).metadatas(metas);
    // The keys 0.x servers stored reach here only for destinations that take them (see
    // `convert::key_problem`); over HTTP the server applies its own line's rules anyway.
    req.dialect = Dialect { legacy_metadata_keys: true, ..Dialect::V1 };
    if uris.iter().any(Option::is_some) {
        req = req.uris(uris);
    }
    req
}
