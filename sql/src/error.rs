//! The one error model of Contango.
//!
//! Every failure is classified once into an [`ErrorKind`]; the protocol layers map
//! the kind (never the message text) to gRPC status codes and Trino error codes.

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
    /// Planning failed for another reason (types, arity, unsupported construct).
    Invalid,
    /// Parameters do not match the statement's placeholders.
    BadParameters,
    /// The statement is refused by policy (server files, writes).
    PermissionDenied,
    /// Credentials are missing or wrong.
    Unauthenticated,
    /// A named object other than a table (prepared statement, query) is unknown.
    NotFound,
    /// Storage or a catalog service cannot be reached.
    Unavailable,
    /// The query was cancelled.
    Cancelled,
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
            ErrorKind::BadParameters => ("INVALID_PARAMETER_USAGE", 80, "USER_ERROR"),
            ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => {
                ("PERMISSION_DENIED", 4, "USER_ERROR")
            }
            ErrorKind::NotFound => ("NOT_FOUND", 5, "USER_ERROR"),
            ErrorKind::Cancelled => ("USER_CANCELED", 3, "USER_ERROR"),
            ErrorKind::Unavailable | ErrorKind::Internal => {
                ("GENERIC_INTERNAL_ERROR", 65536, "INTERNAL_ERROR")
            }
        }
    }

    /// Trino's `errorName` for this kind.
    pub fn trino_error_name(self) -> &'static str {
        self.trino_error().0
    }
}

/// A classified error with a message fit for the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ContangoError {
    kind: ErrorKind,
    message: String,
}

/// Result alias used across the workspace.
pub type Result<T, E = ContangoError> = std::result::Result<T, E>;

impl ContangoError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
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
    /// Unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// Storage or catalog unreachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
}

impl From<DataFusionError> for ContangoError {
    fn from(e: DataFusionError) -> Self {
        classify(e.find_root())
    }
}

impl From<iceberg::Error> for ContangoError {
    fn from(e: iceberg::Error) -> Self {
        classify_iceberg(&e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for ContangoError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        ContangoError::invalid(e.to_string())
    }
}

fn classify_iceberg(e: &iceberg::Error) -> ContangoError {
    use iceberg::ErrorKind as K;
    let message = format!("{e}");
    let kind = match e.kind() {
        K::TableNotFound | K::NamespaceNotFound => ErrorKind::TableNotFound,
        K::DataInvalid | K::FeatureUnsupported | K::PreconditionFailed => ErrorKind::Invalid,
        K::CatalogCommitConflicts => ErrorKind::Internal,
        _ if looks_unreachable(&message) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    ContangoError::new(kind, message)
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
            let message = inner.to_string();
            let kind = if message.contains("No field named") {
                ErrorKind::ColumnNotFound
            } else {
                ErrorKind::Invalid
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::Plan(message) => {
            let message = message.clone();
            let kind = if message.contains("not found") && message.starts_with("table ") {
                ErrorKind::TableNotFound
            } else if message.contains("Invalid function") {
                ErrorKind::FunctionNotFound
            } else if message.contains("placeholder") || message.contains("parameter") {
                ErrorKind::BadParameters
            } else {
                ErrorKind::Invalid
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::NotImplemented(message) => ContangoError::invalid(message.clone()),
        DataFusionError::Execution(message) => {
            let message = message.clone();
            let kind = if message.contains("placeholder") || message.contains("parameter") {
                ErrorKind::BadParameters
            } else {
                ErrorKind::Invalid
            };
            ContangoError::new(kind, message)
        }
        DataFusionError::ArrowError(inner, _) => ContangoError::invalid(inner.to_string()),
        DataFusionError::ResourcesExhausted(message) => ContangoError::invalid(message.clone()),
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
}
