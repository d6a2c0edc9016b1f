//! The one error model of Contango.
//!
//! Every failure is classified once into an [`ErrorKind`], from the error's
//! variant where DataFusion, Arrow or Iceberg has one (and from DataFusion's
//! stable phrases only where it raises a bare `Plan`/`Execution` message).
//! The original error is kept as the [`source`](std::error::Error::source)
//! chain for logs. The protocol layers map the kind (never the message text):
//! gRPC codes in the server's Flight module, Trino's wire error object in its
//! Trino module. [`ErrorKind::trino_error`] is Trino's `StandardErrorCode` for
//! the kind: the vocabulary `system.runtime.queries`, the query metrics and the
//! Trino wire share.

use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

/// What went wrong, independent of the protocol that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The SQL text does not parse.
    Syntax,
    /// A referenced table, schema or catalog does not exist.
    TableNotFound,
    /// A referenced column does not exist.
    ColumnNotFound,
    /// A referenced function does not exist.
    FunctionNotFound,
    /// Planning failed for another reason (arity, values, unsupported construct).
    Invalid,
    /// Operand or argument types do not fit (no coercion exists).
    TypeMismatch,
    /// A value could not be cast to the requested type.
    InvalidCast,
    /// Integer or decimal division by zero.
    DivisionByZero,
    /// The statement form is understood but not supported here.
    NotSupported,
    /// An unknown session property or a value of the wrong type.
    InvalidSessionProperty,
    /// The query was killed by `system.runtime.kill_query`.
    Killed,
    /// A referenced catalog does not exist.
    CatalogNotFound,
    /// A referenced schema does not exist.
    SchemaNotFound,
    /// `COMMIT` / `ROLLBACK` without a transaction.
    NotInTransaction,
    /// Parameters do not match the statement's placeholders.
    BadParameters,
    /// The statement is refused by policy (server files, writes).
    PermissionDenied,
    /// Credentials are missing or wrong.
    Unauthenticated,
    /// A named object other than a table (prepared statement, query) is unknown.
    NotFound,
    /// Storage (the object store, local files) or another service cannot be
    /// reached.
    Unavailable,
    /// The catalog (its database or REST server) could not be reached.
    CatalogUnavailable,
    /// The query was cancelled.
    Cancelled,
    /// The client stopped fetching a query (or never fetched it).
    Abandoned,
    /// The query ran longer than `query_max_run_time` allows.
    ExceededTimeLimit,
    /// The query needed more memory than its limit.
    ExceededMemoryLimit,
    /// A function's result would be larger than one function may build.
    ExceededFunctionMemoryLimit,
    /// Too many queries are already waiting to run.
    QueryQueueFull,
    /// The statement text is longer than the server accepts.
    QueryTextTooLarge,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorKind {
    /// Trino's `errorName`, `errorCode` and `errorType` for this kind
    /// (Trino's `StandardErrorCode`).
    pub fn trino_error(self) -> (&'static str, i32, &'static str) {
        match self {
            ErrorKind::Syntax => ("SYNTAX_ERROR", 1, "USER_ERROR"),
            ErrorKind::TableNotFound => ("TABLE_NOT_FOUND", 46, "USER_ERROR"),
            ErrorKind::ColumnNotFound => ("COLUMN_NOT_FOUND", 47, "USER_ERROR"),
            ErrorKind::FunctionNotFound => ("FUNCTION_NOT_FOUND", 6, "USER_ERROR"),
            ErrorKind::Invalid => ("GENERIC_USER_ERROR", 0, "USER_ERROR"),
            ErrorKind::TypeMismatch => ("TYPE_MISMATCH", 58, "USER_ERROR"),
            ErrorKind::InvalidCast => ("INVALID_CAST_ARGUMENT", 9, "USER_ERROR"),
            ErrorKind::DivisionByZero => ("DIVISION_BY_ZERO", 8, "USER_ERROR"),
            ErrorKind::NotSupported => ("NOT_SUPPORTED", 13, "USER_ERROR"),
            ErrorKind::InvalidSessionProperty => ("INVALID_SESSION_PROPERTY", 14, "USER_ERROR"),
            ErrorKind::Killed => ("ADMINISTRATIVELY_KILLED", 38, "USER_ERROR"),
            ErrorKind::CatalogNotFound => ("CATALOG_NOT_FOUND", 44, "USER_ERROR"),
            ErrorKind::SchemaNotFound => ("SCHEMA_NOT_FOUND", 45, "USER_ERROR"),
            ErrorKind::NotInTransaction => ("NOT_IN_TRANSACTION", 21, "USER_ERROR"),
            ErrorKind::BadParameters => ("INVALID_PARAMETER_USAGE", 80, "USER_ERROR"),
            ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => {
                ("PERMISSION_DENIED", 4, "USER_ERROR")
            }
            ErrorKind::NotFound => ("NOT_FOUND", 5, "USER_ERROR"),
            ErrorKind::Cancelled => ("USER_CANCELED", 3, "USER_ERROR"),
            ErrorKind::Abandoned => ("ABANDONED_QUERY", 2, "USER_ERROR"),
            ErrorKind::ExceededFunctionMemoryLimit => {
                ("EXCEEDED_FUNCTION_MEMORY_LIMIT", 37, "USER_ERROR")
            }
            ErrorKind::ExceededTimeLimit => {
                ("EXCEEDED_TIME_LIMIT", 131_075, "INSUFFICIENT_RESOURCES")
            }
            ErrorKind::QueryQueueFull => ("QUERY_QUEUE_FULL", 131_074, "INSUFFICIENT_RESOURCES"),
            ErrorKind::QueryTextTooLarge => ("QUERY_TEXT_TOO_LARGE", 35, "USER_ERROR"),
            ErrorKind::ExceededMemoryLimit => (
                "EXCEEDED_LOCAL_MEMORY_LIMIT",
                131_079,
                "INSUFFICIENT_RESOURCES",
            ),
            // Trino's Iceberg connector (`IcebergErrorCode`, base 0x0504_0000).
            ErrorKind::Unavailable => ("ICEBERG_FILESYSTEM_ERROR", 84_148_232, "EXTERNAL"),
            ErrorKind::CatalogUnavailable => ("ICEBERG_CATALOG_ERROR", 84_148_237, "EXTERNAL"),
            ErrorKind::Internal => ("GENERIC_INTERNAL_ERROR", 65536, "INTERNAL_ERROR"),
        }
    }

    /// Trino's `errorName` for this kind.
    pub fn trino_error_name(self) -> &'static str {
        self.trino_error().0
    }
}

/// The error a [`ContangoError`] was classified from.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// A classified error with a message fit for the client, and the error it
/// was classified from (if any) as its source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ContangoError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Source>,
}

/// Result alias used across the workspace.
pub type Result<T, E = ContangoError> = std::result::Result<T, E>;

impl ContangoError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This error with `source` as the error it came from.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand constructors.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    /// Parameters that do not fit the statement.
    pub fn bad_parameters(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadParameters, message)
    }
    /// Refused by policy.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PermissionDenied, message)
    }
    /// Missing or wrong credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }
    /// Unknown named object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// Unknown session property or a badly typed value.
    pub fn invalid_session_property(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSessionProperty, message)
    }
    /// Understood but not supported.
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, message)
    }
    /// Unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// Storage or catalog unreachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// The catalog could not be reached.
    pub fn catalog_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::CatalogUnavailable, message)
    }
}

impl ContangoError {
    /// Classifies a borrowed DataFusion error (no source kept: it is borrowed).
    pub fn from_datafusion(e: &DataFusionError) -> Self {
        classify(e.find_root())
    }
}

impl From<DataFusionError> for ContangoError {
    fn from(e: DataFusionError) -> Self {
        let classified = classify(e.find_root());
        if classified.source.is_some() {
            return classified; // a ContangoError wrapped by DataFusion keeps its own
        }
        classified.with_source(e)
    }
}

impl From<iceberg::Error> for ContangoError {
    fn from(e: iceberg::Error) -> Self {
        classify_iceberg(&e).with_source(e)
    }
}

impl From<ArrowError> for ContangoError {
    fn from(e: ArrowError) -> Self {
        classify_arrow(&e).with_source(e)
    }
}

/// Arrow's errors by variant; compute errors (overflow, casts inside
/// kernels) by their stable phrases.
fn classify_arrow(e: &ArrowError) -> ContangoError {
    let message = e.to_string();
    let kind = match e {
        ArrowError::DivideByZero => ErrorKind::DivisionByZero,
        ArrowError::CastError(_) | ArrowError::ParseError(_) => ErrorKind::InvalidCast,
        ArrowError::ExternalError(inner) => {
            if let Some(c) = inner.downcast_ref::<ContangoError>() {
                return c.clone();
            }
            value_error_kind(&message)
        }
        ArrowError::IoError(..) => ErrorKind::Unavailable,
        _ => value_error_kind(&message),
    };
    ContangoError::new(kind, message)
}

fn classify_iceberg(e: &iceberg::Error) -> ContangoError {
    use iceberg::ErrorKind as K;
    let message = format!("{e}");
    let kind = match e.kind() {
        K::TableNotFound | K::NamespaceNotFound => ErrorKind::TableNotFound,
        K::DataInvalid | K::FeatureUnsupported | K::PreconditionFailed => ErrorKind::Invalid,
        K::CatalogCommitConflicts => ErrorKind::Internal,
        // Only the REST catalog client speaks HTTP through reqwest: whatever
        // it reports (unreachable, refused, an answer it cannot read) is the catalog's.
        _ if from_rest_catalog(&message) => ErrorKind::CatalogUnavailable,
        // The SQL catalog's database (sqlx) or a REST catalog that does not answer.
        _ if looks_unreachable(&message)
            && (message.contains("sqlx") || message.to_ascii_lowercase().contains("catalog")) =>
        {
            ErrorKind::CatalogUnavailable
        }
        _ if looks_unreachable(&message) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    ContangoError::new(kind, message)
}

/// Type, cast and arithmetic failures by DataFusion's and Arrow's stable phrases.
fn value_error_kind(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("divide by zero") || m.contains("division by zero") {
        ErrorKind::DivisionByZero
    } else if m.contains("cannot cast") || m.contains("cast error") || m.contains("unable to parse")
    {
        ErrorKind::InvalidCast
    } else if m.contains("cannot coerce")
        || m.contains("no function matches")
        || m.contains("does not support type")
        || m.contains("failed to coerce")
        || m.contains("cannot infer common")
        || m.contains("no common type")
        || m.contains("there isn't a common type")
        || m.contains("type_coercion")
    {
        ErrorKind::TypeMismatch
    } else {
        ErrorKind::Invalid
    }
}

/// iceberg-catalog-rest's own phrases for a request that failed.
fn from_rest_catalog(message: &str) -> bool {
    [
        "Failed to execute http request",
        "Received response with unexpected status code",
        "Received unexpected response",
        "Failed to parse response from rest catalog server",
    ]
    .iter()
    .any(|phrase| message.contains(phrase))
}

fn looks_unreachable(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection refused",
        "error sending request",
        "dns error",
        "timed out",
        "connect error",
        "unreachable",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// Classifies a DataFusion error by its variant and, for planning errors, by the
/// stable phrases DataFusion uses for missing objects.
fn classify(e: &DataFusionError) -> ContangoError {
    match e {
        DataFusionError::SQL(err, _) => ContangoError::new(ErrorKind::Syntax, err.to_string()),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            classify(inner)
        }
        DataFusionError::Shared(inner) => classify(inner),
        DataFusionError::External(inner) => {
            if let Some(ice) = inner.downcast_ref::<iceberg::Error>() {
                return classify_iceberg(ice);
            }
            if let Some(c) = inner.downcast_ref::<ContangoError>() {
                return c.clone();
            }
            let message = inner.to_string();
            let kind = if looks_unreachable(&message) {
                ErrorKind::Unavailable
            } else if message.starts_with("regex parse error")
                || message.contains("regex exceeds size limit")
            {
                // The `regex` crate's errors for a client's pattern.
                ErrorKind::Invalid
            } else {
                ErrorKind::Internal
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::ObjectStore(inner) => {
            ContangoError::unavailable(format!("object store: {inner}"))
        }
        DataFusionError::IoError(inner) => ContangoError::unavailable(format!("I/O: {inner}")),
        DataFusionError::SchemaError(inner, _) => {
            let kind = match inner.as_ref() {
                SchemaError::FieldNotFound { .. } => ErrorKind::ColumnNotFound,
                _ => ErrorKind::Invalid,
            };
            ContangoError::new(kind, inner.to_string())
        }
        DataFusionError::Plan(message) => {
            let message = message.clone();
            let kind = if (message.contains("not found") && message.starts_with("table "))
                || message.starts_with("No table named")
            {
                ErrorKind::TableNotFound
            } else if message.contains("Invalid function") {
                ErrorKind::FunctionNotFound
            } else if message.contains("placeholder") || message.contains("parameter") {
                ErrorKind::BadParameters
            } else {
                value_error_kind(&message)
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::NotImplemented(message) => ContangoError::not_supported(message.clone()),
        DataFusionError::Execution(message) => {
            let message = message.clone();
            let kind = if message.contains("placeholder") || message.contains("parameter") {
                ErrorKind::BadParameters
            } else {
                value_error_kind(&message)
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::ArrowError(inner, _) => classify_arrow(inner),
        DataFusionError::ResourcesExhausted(message) => {
            ContangoError::new(ErrorKind::ExceededMemoryLimit, message.clone())
        }
        other => ContangoError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_errors_are_classified() {
        let e: ContangoError =
            DataFusionError::Plan("table 'iceberg.market.nope' not found".into()).into();
        assert_eq!(e.kind(), ErrorKind::TableNotFound);
        let e: ContangoError =
            DataFusionError::Plan("Invalid function 'foo'.\nDid you mean 'floor'?".into()).into();
        assert_eq!(e.kind(), ErrorKind::FunctionNotFound);
        assert_eq!(e.kind().trino_error_name(), "FUNCTION_NOT_FOUND");
        let e: ContangoError = DataFusionError::Plan(
            "Cannot coerce arithmetic expression Int64 + Utf8 to valid types".into(),
        )
        .into();
        assert_eq!(e.kind().trino_error_name(), "TYPE_MISMATCH");
        let e: ContangoError =
            DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None).into();
        assert_eq!(
            e.kind().trino_error(),
            ("DIVISION_BY_ZERO", 8, "USER_ERROR")
        );
    }

    /// The kinds of errors the real engine raises for the common mistakes.
    #[tokio::test]
    async fn errors_the_engine_raises_are_classified() {
        let ctx = datafusion::prelude::SessionContext::new();
        let cases = [
            ("SELEC 1", ErrorKind::Syntax),
            ("SELECT * FROM nope", ErrorKind::TableNotFound),
            ("SELECT y FROM (VALUES (1)) t(x)", ErrorKind::ColumnNotFound),
            ("SELECT no_such_function(1)", ErrorKind::FunctionNotFound),
            ("SELECT CAST('abc' AS INT)", ErrorKind::InvalidCast),
            (
                "SELECT x / 0 FROM (VALUES (1)) t(x)",
                ErrorKind::DivisionByZero,
            ),
            ("SELECT true + 1", ErrorKind::TypeMismatch),
            ("SELECT abs('x')", ErrorKind::TypeMismatch),
        ];
        for (sql, kind) in cases {
            let error = match ctx.sql(sql).await {
                Err(e) => e,
                Ok(frame) => frame.collect().await.expect_err(sql),
            };
            let e = ContangoError::from(error);
            assert_eq!(e.kind(), kind, "{sql}: {}", e.message());
            assert!(
                std::error::Error::source(&e).is_some(),
                "{sql}: the engine's error is kept as the source"
            );
        }
    }

    #[test]
    fn arrow_errors_are_classified_by_variant() {
        let e = ContangoError::from(ArrowError::DivideByZero);
        assert_eq!(e.kind(), ErrorKind::DivisionByZero);
        let e = ContangoError::from(ArrowError::CastError("x".into()));
        assert_eq!(e.kind(), ErrorKind::InvalidCast);
    }

    #[test]
    fn wrapped_errors_keep_their_kind() {
        let inner = ContangoError::permission_denied("no");
        let e: ContangoError = DataFusionError::External(Box::new(inner)).into();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e: ContangoError = DataFusionError::Context(
            "ctx".into(),
            Box::new(DataFusionError::Plan("table 'x' not found".into())),
        )
        .into();
        assert_eq!(e.kind(), ErrorKind::TableNotFound);
    }

    #[test]
    fn outages_are_named_as_trino_s_iceberg_connector_names_them() {
        // Trino's IcebergErrorCode: 0x0504_0000 + 8 and + 13, type EXTERNAL.
        assert_eq!(
            ErrorKind::Unavailable.trino_error(),
            ("ICEBERG_FILESYSTEM_ERROR", 0x0504_0000 + 8, "EXTERNAL")
        );
        assert_eq!(
            ErrorKind::CatalogUnavailable.trino_error(),
            ("ICEBERG_CATALOG_ERROR", 0x0504_0000 + 13, "EXTERNAL")
        );
        // The SQL catalog's pool, as the faults test saw it with PostgreSQL down.
        let pool = iceberg::Error::new(
            iceberg::ErrorKind::Unexpected,
            "operation failed for hitting sqlx error",
        )
        .with_source(std::io::Error::other(
            "pool timed out while waiting for an open connection",
        ));
        let e: ContangoError = DataFusionError::External(Box::new(pool)).into();
        assert_eq!(e.kind(), ErrorKind::CatalogUnavailable, "{e}");
        let e: ContangoError = DataFusionError::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
        .into();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        // The REST catalog client: down, or refusing the request.
        for phrase in [
            "Failed to execute http request",
            "Received response with unexpected status code",
        ] {
            let rest = iceberg::Error::new(iceberg::ErrorKind::Unexpected, phrase);
            let e: ContangoError = DataFusionError::External(Box::new(rest)).into();
            assert_eq!(e.kind(), ErrorKind::CatalogUnavailable, "{e}");
        }
    }
}
