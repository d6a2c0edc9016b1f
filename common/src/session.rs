//! The one session model shared by every endpoint, and the changes a
//! statement makes to it (`USE`, `SET SESSION`, `PREPARE`, transactions).
//!
//! The session belongs to the client: the Trino protocol carries it in request
//! headers and returns changes in response headers; the engine never keeps it.

use std::collections::BTreeMap;

/// Per-client state: who is asking and where unqualified names resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Authenticated user (or `anonymous` when auth is off).
    pub user: String,
    /// Catalog used for unqualified names.
    pub catalog: String,
    /// Schema (Iceberg namespace) used for unqualified names.
    pub schema: String,
    /// Session time zone (IANA name or `+hh:mm` offset).
    pub time_zone: String,
    /// Session properties set by the client (validated when planning).
    pub properties: BTreeMap<String, String>,
    /// Prepared statements by name (their SQL text).
    pub prepared: BTreeMap<String, String>,
    /// Open transaction, if the client started one.
    pub transaction_id: Option<String>,
    /// What the client calls itself (`X-Trino-Source`, Flight user agent).
    pub source: Option<String>,
    /// Whether the user has the administrator role: sees every user's
    /// queries in `system.runtime.queries` and may kill them.
    pub admin: bool,
    /// The stop signal of the query planned with this session (each
    /// submission gets its query's own).
    pub stop: crate::stop::QueryStop,
}

impl Session {
    /// A session for `user` with the given default catalog and schema.
    pub fn new(
        user: impl Into<String>,
        catalog: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        Self {
            user: user.into(),
            catalog: catalog.into(),
            schema: schema.into(),
            time_zone: "UTC".into(),
            properties: BTreeMap::new(),
            prepared: BTreeMap::new(),
            transaction_id: None,
            source: None,
            admin: false,
            stop: crate::stop::QueryStop::default(),
        }
    }

    /// This session with `update` applied (as a client applies response headers).
    pub fn apply(&mut self, update: &SessionUpdate) {
        if let Some(c) = &update.set_catalog {
            self.catalog = c.clone();
        }
        if let Some(s) = &update.set_schema {
            self.schema = s.clone();
        }
        for (k, v) in &update.set_properties {
            self.properties.insert(k.clone(), v.clone());
        }
        for k in &update.clear_properties {
            self.properties.remove(k);
        }
        for (k, v) in &update.added_prepare {
            self.prepared.insert(k.clone(), v.clone());
        }
        for k in &update.deallocated_prepare {
            self.prepared.remove(k);
        }
        if let Some(t) = &update.started_transaction {
            self.transaction_id = Some(t.clone());
        }
        if update.clear_transaction {
            self.transaction_id = None;
        }
    }
}

/// How a statement changes the client's session; the Trino protocol turns each
/// field into its `X-Trino-Set-*` / `Clear-*` / `Added-Prepare` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionUpdate {
    /// `USE catalog.schema`: the new catalog.
    pub set_catalog: Option<String>,
    /// `USE [catalog.]schema`: the new schema.
    pub set_schema: Option<String>,
    /// `SET SESSION name = value`.
    pub set_properties: Vec<(String, String)>,
    /// `RESET SESSION name`.
    pub clear_properties: Vec<String>,
    /// `PREPARE name FROM sql`.
    pub added_prepare: Vec<(String, String)>,
    /// `DEALLOCATE PREPARE name`.
    pub deallocated_prepare: Vec<String>,
    /// `START TRANSACTION`: the new transaction id.
    pub started_transaction: Option<String>,
    /// `COMMIT` / `ROLLBACK`.
    pub clear_transaction: bool,
}

impl SessionUpdate {
    /// Whether the statement changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}
