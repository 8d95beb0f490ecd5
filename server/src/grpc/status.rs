//! The one place where domain errors become gRPC status codes. Database
//! failures are logged with their cause and reach the caller as UNAVAILABLE
//! (the catalog is unreachable) or INTERNAL, never with connection details.

use crate::auth::AuthError;
use crate::catalog::CatalogError;
use crate::fleet::FleetError;
use tonic::Status;

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        bounded(match err {
            AuthError::MissingRole { .. } => Status::permission_denied(err.to_string()),
            AuthError::MissingToken | AuthError::InvalidToken(_) => {
                Status::unauthenticated(err.to_string())
            }
        })
    }
}

impl From<CatalogError> for Status {
    fn from(err: CatalogError) -> Status {
        bounded(match err {
            CatalogError::InvalidId(_)
            | CatalogError::InvalidProject(_)
            | CatalogError::InvalidInput(_)
            | CatalogError::TooLarge { .. }
            | CatalogError::Unparsable { .. } => Status::invalid_argument(err.to_string()),
            CatalogError::NotFound { .. } | CatalogError::UnknownProject { .. } => {
                Status::not_found(err.to_string())
            }
            CatalogError::IdClash { .. } | CatalogError::ParentClash { .. } => {
                Status::already_exists(err.to_string())
            }
            CatalogError::NotOnHead(_) | CatalogError::CannotAmend(_) => {
                Status::failed_precondition(err.to_string())
            }
            CatalogError::NotTheAuthor { .. } => Status::permission_denied(err.to_string()),
            CatalogError::Busy(_) => Status::aborted(err.to_string()),
            CatalogError::Db(err) => database(err),
        })
    }
}

impl From<FleetError> for Status {
    fn from(err: FleetError) -> Status {
        bounded(match err {
            FleetError::Invalid(_) | FleetError::UnknownFlag(_) => {
                Status::invalid_argument(err.to_string())
            }
            FleetError::WrongController { .. } => Status::permission_denied(err.to_string()),
            FleetError::Db(err) => database(err),
            FleetError::Batch(err) => database_ref(&err),
            FleetError::Stopped => Status::unavailable(err.to_string()),
        })
    }
}

/// Maps a catalog database failure.
pub fn database(err: sqlx::Error) -> Status {
    database_ref(&err)
}

/// Maps a catalog database failure shared by several calls (one fleet
/// report batch).
fn database_ref(err: &sqlx::Error) -> Status {
    if unreachable(err) {
        tracing::warn!(error = %err, "catalog database unavailable");
        Status::unavailable("the catalog database is unavailable; retry shortly")
    } else {
        tracing::error!(error = %err, "catalog database error");
        Status::internal("catalog database error (logged on the server)")
    }
}

/// True when the failure says the catalog cannot be reached right now rather
/// than that the request went wrong: no connection could be had, or the
/// server ended the one in use. A PostgreSQL catalog shutting down sends
/// every open connection `57P01 admin_shutdown` before its socket closes, so
/// a call caught mid-shutdown fails with that code, not with an I/O error.
fn unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unreachable_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATEs of a server that is going away or refusing connections: class
/// 08 (connection exception), 57P01-57P05 (shutdown, crash, not accepting
/// connections, database dropped, idle session timeout) and 53300 (too many
/// connections).
fn unreachable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

/// The most of a message a status carries, as it travels: in a response
/// header, percent-encoded (every byte outside printable ASCII, and `%`,
/// takes three). A hyper/tonic client refuses a header list over 16 KiB
/// with a protocol error that hides the reason (and upsets the connection).
const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// The size of `c` in a percent-encoded `grpc-message` header.
fn encoded_len(c: char) -> usize {
    if c.is_ascii() && (' '..='~').contains(&c) && c != '%' {
        1
    } else {
        3 * c.len_utf8()
    }
}

/// Cuts a message too long for a status header, saying so; the whole text
/// goes to the server log.
fn bounded(status: Status) -> Status {
    let message = status.message();
    let mut encoded = 0;
    let mut cut = None;
    for (at, c) in message.char_indices() {
        encoded += encoded_len(c);
        if encoded > MAX_MESSAGE_BYTES {
            cut = Some(at);
            break;
        }
    }
    let Some(cut) = cut else { return status };
    tracing::warn!(code = ?status.code(), message, "status message cut for its header");
    Status::new(
        status.code(),
        format!(
            "{}\n... (cut at {cut} of {} bytes; the whole message is in the server log)",
            &message[..cut],
            message.len()
        ),
    )
}

impl From<crate::release::ReleaseError> for Status {
    fn from(err: crate::release::ReleaseError) -> Status {
        bounded(release_status(err))
    }
}

fn release_status(err: crate::release::ReleaseError) -> Status {
    use crate::release::ReleaseError::*;
    use crate::target::TargetError;
    match err {
        NoPolicy | Refused(_) => Status::failed_precondition(err.to_string()),
        UnknownEnvironment { .. } | InvalidInput(_) => Status::invalid_argument(err.to_string()),
        PermissionDenied(_) => Status::permission_denied(err.to_string()),
        NotFound(_) => Status::not_found(err.to_string()),
        Busy(_) => Status::aborted(err.to_string()),
        Stopped(_) => Status::unavailable(err.to_string()),
        Catalog(err) => err.into(),
        Target(TargetError::MissingUrl { .. } | TargetError::NotPostgres { .. }) => {
            Status::failed_precondition(err.to_string())
        }
        Target(TargetError::Unreachable { .. }) => Status::unavailable(err.to_string()),
        Target(TargetError::Failed { .. }) => {
            tracing::warn!(error = %err, "target database error");
            Status::internal(err.to_string())
        }
        Backup(_) => Status::failed_precondition(err.to_string()),
        Db(err) => database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_going_away_is_unavailable_and_a_failing_query_is_not() {
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert!(unreachable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "57014", "22P02"] {
            assert!(!unreachable_sqlstate(code), "{code}");
        }
        assert!(unreachable(&sqlx::Error::PoolTimedOut));
        assert!(unreachable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!unreachable(&sqlx::Error::RowNotFound));
        assert_eq!(
            database(sqlx::Error::PoolClosed).code(),
            tonic::Code::Unavailable
        );
        assert_eq!(
            database(sqlx::Error::Protocol("unexpected message".into())).code(),
            tonic::Code::Internal
        );
    }

    #[test]
    fn long_messages_are_cut_by_their_encoded_size_and_say_so() {
        // "é" is two bytes, six once percent-encoded in the header.
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let status = bounded(Status::failed_precondition(long.clone()));
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        let encoded: usize = status.message().chars().map(encoded_len).sum();
        assert!(encoded < MAX_MESSAGE_BYTES + 300, "{encoded}");
        assert!(
            status.message().ends_with(&format!(
                "(cut at {} of {} bytes; the whole message is in the server log)",
                2 * (MAX_MESSAGE_BYTES / 6),
                long.len()
            )),
            "{}",
            &status.message()[status.message().len() - 100..]
        );
        let ascii = bounded(Status::failed_precondition("x".repeat(MAX_MESSAGE_BYTES)));
        assert_eq!(ascii.message().len(), MAX_MESSAGE_BYTES, "fits exactly");
        let short = bounded(Status::failed_precondition("short"));
        assert_eq!(short.message(), "short");
    }
}
