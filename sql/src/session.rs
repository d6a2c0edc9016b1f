//! The one session model shared by every endpoint.

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
    /// Session properties set by the client.
    pub properties: BTreeMap<String, String>,
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
            properties: BTreeMap::new(),
        }
    }
}
