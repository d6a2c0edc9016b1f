//! The single mapping from Contango errors to gRPC status codes.

use contango_common::error::{ContangoError, ErrorKind};
use tonic::Status;

/// gRPC status for an error; internal errors are logged, client errors are not.
pub fn to_status(e: &ContangoError) -> Status {
    let m = e.message().to_string();
    match e.kind() {
        ErrorKind::Syntax
        | ErrorKind::Invalid
        | ErrorKind::BadParameters
        | ErrorKind::ColumnNotFound
        | ErrorKind::FunctionNotFound
        | ErrorKind::TypeMismatch
        | ErrorKind::InvalidCast
        | ErrorKind::DivisionByZero
        | ErrorKind::InvalidSessionProperty => Status::invalid_argument(m),
        ErrorKind::NotSupported => Status::unimplemented(m),
        ErrorKind::TableNotFound
        | ErrorKind::NotFound
        | ErrorKind::CatalogNotFound
        | ErrorKind::SchemaNotFound => Status::not_found(m),
        ErrorKind::NotInTransaction => Status::failed_precondition(m),
        ErrorKind::PermissionDenied => Status::permission_denied(m),
        ErrorKind::Unauthenticated => Status::unauthenticated(m),
        ErrorKind::Unavailable | ErrorKind::CatalogUnavailable => Status::unavailable(m),
        ErrorKind::ExceededTimeLimit => Status::deadline_exceeded(m),
        ErrorKind::QueryTextTooLarge => Status::invalid_argument(m),
        ErrorKind::ExceededMemoryLimit
        | ErrorKind::ExceededFunctionMemoryLimit
        | ErrorKind::QueryQueueFull => Status::resource_exhausted(m),
        ErrorKind::Cancelled | ErrorKind::Killed | ErrorKind::Abandoned => Status::cancelled(m),
        ErrorKind::Internal => {
            tracing::error!(error = %m, "internal error");
            Status::internal(m)
        }
    }
}

/// Converts any error that classifies into a [`ContangoError`] to a status.
pub fn status<E: Into<ContangoError>>(e: E) -> Status {
    to_status(&e.into())
}
