//! Iceberg [`Storage`] over `object_store`: local files and S3-compatible stores.
//!
//! Paths may be `s3://bucket/key` (also `s3a://`), `file:///abs/path` or a plain
//! absolute path. One client per bucket is built lazily and cached. Iceberg's
//! standard `s3.*` properties (as a REST catalog vends them) override the
//! configured [`S3Settings`].

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, S3_ACCESS_KEY_ID, S3_ENDPOINT,
    S3_PATH_STYLE_ACCESS, S3_REGION, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use serde::{Deserialize, Serialize};

/// Buffered writes switch to a multipart upload beyond this size.
const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;

/// Connection settings for an S3-compatible store (AWS, MinIO, garage, ...).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; empty means AWS.
    pub endpoint: Option<String>,
    /// Region; `us-east-1` when unset.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key (never logged).
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials (never logged).
    pub session_token: Option<String>,
    /// Allow plain HTTP (loopback MinIO and friends).
    pub allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO is deployed.
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("allow_http", &self.allow_http)
            .field("path_style", &self.path_style)
            .finish()
    }
}

impl S3Settings {
    /// Applies Iceberg's `s3.*` properties on top of these settings.
    fn with_props(&self, props: &HashMap<String, String>) -> Self {
        let mut s = self.clone();
        let get = |k: &str| props.get(k).filter(|v| !v.is_empty()).cloned();
        if let Some(v) = get(S3_ENDPOINT) {
            s.allow_http |= v.starts_with("http://");
            s.endpoint = Some(v);
        }
        s.region = get(S3_REGION).or(s.region);
        s.access_key_id = get(S3_ACCESS_KEY_ID).or(s.access_key_id);
        s.secret_access_key = get(S3_SECRET_ACCESS_KEY).or(s.secret_access_key);
        s.session_token = get(S3_SESSION_TOKEN).or(s.session_token);
        if let Some(v) = get(S3_PATH_STYLE_ACCESS) {
            s.path_style = v.eq_ignore_ascii_case("true");
        }
        s
    }

    /// An object_store client for `bucket`.
    pub fn build_store(&self, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
        // Fail fast on unreachable endpoints: a few retries within seconds, not minutes.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120));
        let mut b = AmazonS3Builder::new()
            .with_retry(retry)
            .with_client_options(client)
            .with_bucket_name(bucket)
            .with_region(self.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_allow_http(self.allow_http)
            .with_virtual_hosted_style_request(!self.path_style);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &self.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &self.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        if let Some(t) = &self.session_token {
            b = b.with_token(t);
        }
        Ok(Arc::new(b.build()?))
    }
}

/// Builds [`ObjectStoreStorage`] for Iceberg's `FileIO`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreStorageFactory {
    /// Settings for `s3://` locations.
    pub s3: S3Settings,
}

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(ObjectStoreStorage::new(
            self.s3.with_props(config.props()),
        )))
    }
}

/// Iceberg storage backed by `object_store` clients.
#[derive(Debug, Serialize, Deserialize)]
pub struct ObjectStoreStorage {
    s3: S3Settings,
    #[serde(skip)]
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectStoreStorage {
    /// Storage using `s3` for `s3://` paths and the local filesystem otherwise.
    pub fn new(s3: S3Settings) -> Self {
        Self {
            s3,
            stores: Mutex::default(),
        }
    }

    /// The store and object path for an Iceberg location.
    pub fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
        if let Some(rest) = location
            .strip_prefix("s3://")
            .or_else(|| location.strip_prefix("s3a://"))
        {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            let store = self.cached(bucket, || self.s3.build_store(bucket))?;
            let path = Path::parse(key).map_err(|e| invalid(location, e))?;
            return Ok((store, path));
        }
        let local = local_path(location).ok_or_else(|| {
            Error::new(
                ErrorKind::FeatureUnsupported,
                format!(
                    "unsupported storage location '{location}': use s3:// or an absolute local path"
                ),
            )
        })?;
        let store = self.cached("", || Ok(Arc::new(LocalFileSystem::new())))?;
        let path = Path::from_absolute_path(local).map_err(|e| invalid(location, e))?;
        Ok((store, path))
    }

    fn cached(
        &self,
        key: &str,
        build: impl FnOnce() -> object_store::Result<Arc<dyn ObjectStore>>,
    ) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.lock().expect("store cache poisoned");
        if let Some(s) = stores.get(key) {
            return Ok(s.clone());
        }
        let store = build().map_err(|e| from_store(key, e))?;
        stores.insert(key.to_string(), store.clone());
        Ok(store)
    }
}

/// `file:///x`, `file:/x` and `/x` to `/x`.
fn local_path(location: &str) -> Option<&str> {
    let p = location
        .strip_prefix("file://")
        .or_else(|| location.strip_prefix("file:"))
        .unwrap_or(location);
    p.starts_with('/').then_some(p)
}

fn invalid(location: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::DataInvalid,
        format!("invalid location '{location}': {e}"),
    )
}

fn from_store(location: &str, e: object_store::Error) -> Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            ErrorKind::PreconditionFailed
        }
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("storage error at '{location}': {e}"))
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let (store, p) = self.resolve(path)?;
        match store.head(&p).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(from_store(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let (store, p) = self.resolve(path)?;
        let meta = store.head(&p).await.map_err(|e| from_store(path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        let (store, p) = self.resolve(path)?;
        let got = store.get(&p).await.map_err(|e| from_store(path, e))?;
        got.bytes().await.map_err(|e| from_store(path, e))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(ObjectRead {
            store,
            path: p,
            location: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let (store, p) = self.resolve(path)?;
        store
            .put(&p, PutPayload::from_bytes(bs))
            .await
            .map_err(|e| from_store(path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(ObjectWrite {
            store,
            path: p,
            location: path.to_string(),
            buffer: Vec::new(),
            upload: None,
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let (store, p) = self.resolve(path)?;
        match store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(from_store(path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let (store, p) = self.resolve(path.trim_end_matches('/'))?;
        let locations = store.list(Some(&p)).map(|m| m.map(|m| m.location)).boxed();
        let mut deleted = store.delete_stream(locations);
        while let Some(r) = deleted.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(from_store(path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(
            Arc::new(self.clone_settings()),
            path.to_string(),
        ))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(
            Arc::new(self.clone_settings()),
            path.to_string(),
        ))
    }
}

impl ObjectStoreStorage {
    /// A storage sharing this one's cached clients.
    fn clone_settings(&self) -> Self {
        let stores = self.stores.lock().expect("store cache poisoned").clone();
        Self {
            s3: self.s3.clone(),
            stores: Mutex::new(stores),
        }
    }
}

struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    path: Path,
    location: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| from_store(&self.location, e))
    }
}

/// Buffers small files into one PUT; streams large ones as a multipart upload.
struct ObjectWrite {
    store: Arc<dyn ObjectStore>,
    path: Path,
    location: String,
    buffer: Vec<u8>,
    upload: Option<WriteMultipart>,
    closed: bool,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        if let Some(upload) = &mut self.upload {
            upload
                .wait_for_capacity(4)
                .await
                .map_err(|e| from_store(&self.location, e))?;
            upload.put(bs);
            return Ok(());
        }
        self.buffer.extend_from_slice(&bs);
        if self.buffer.len() >= MULTIPART_THRESHOLD {
            let upload = self
                .store
                .put_multipart(&self.path)
                .await
                .map_err(|e| from_store(&self.location, e))?;
            let mut upload = WriteMultipart::new(upload);
            upload.write(&std::mem::take(&mut self.buffer));
            self.upload = Some(upload);
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("file '{}' already closed", self.location),
            ));
        }
        self.closed = true;
        match self.upload.take() {
            Some(upload) => {
                upload
                    .finish()
                    .await
                    .map_err(|e| from_store(&self.location, e))?;
            }
            None => {
                let bytes = Bytes::from(std::mem::take(&mut self.buffer));
                self.store
                    .put(&self.path, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|e| from_store(&self.location, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_roundtrip_small_and_multipart() {
        let dir = tempfile::tempdir().unwrap();
        let storage = ObjectStoreStorage::new(S3Settings::default());
        let small = format!("file://{}/a/b/small.bin", dir.path().display());
        assert!(!storage.exists(&small).await.unwrap());
        storage
            .write(&small, Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert!(storage.exists(&small).await.unwrap());
        assert_eq!(storage.metadata(&small).await.unwrap().size, 5);
        let r = storage.reader(&small).await.unwrap();
        assert_eq!(&r.read(1..4).await.unwrap()[..], b"ell");

        let big = format!("{}/big.bin", dir.path().display());
        let mut w = storage.writer(&big).await.unwrap();
        let chunk = Bytes::from(vec![7u8; 5 * 1024 * 1024]);
        for _ in 0..5 {
            w.write(chunk.clone()).await.unwrap();
        }
        w.close().await.unwrap();
        assert!(w.close().await.is_err());
        assert_eq!(storage.metadata(&big).await.unwrap().size, 25 * 1024 * 1024);

        storage
            .delete_prefix(&format!("file://{}/a", dir.path().display()))
            .await
            .unwrap();
        assert!(!storage.exists(&small).await.unwrap());
        assert!(storage.exists(&big).await.unwrap());
    }

    #[test]
    fn unsupported_scheme_is_a_clear_error() {
        let storage = ObjectStoreStorage::new(S3Settings::default());
        let e = storage.resolve("gs://bucket/x").unwrap_err();
        assert!(
            e.to_string().contains("unsupported storage location"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let s = S3Settings {
            secret_access_key: Some("topsecret".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
