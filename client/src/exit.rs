//! Exit codes shared by the command-line tools, so scripts can tell a refusal
//! from a typo from an outage.

use tonic::Code;

/// Success.
pub const OK: u8 = 0;
/// The server (or the linter) said no: a precondition, a clash, error-level findings.
pub const REFUSED: u8 = 1;
/// Bad usage or bad input: unreadable files, malformed ids, SQL that does not parse.
pub const BAD_INPUT: u8 = 2;
/// The server could not be reached or is unavailable.
pub const UNAVAILABLE: u8 = 3;
/// The token is missing or invalid, or lacks the role for the call.
pub const AUTH: u8 = 4;

/// The exit code for a failed call.
pub fn for_status(status: &tonic::Status) -> u8 {
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted => BAD_INPUT,
        // A call that ran out of time (the client's own timeout ends it as
        // CANCELLED "Timeout expired") met a server that did not answer.
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => UNAVAILABLE,
        Code::Unauthenticated | Code::PermissionDenied => AUTH,
        _ => REFUSED,
    }
}

/// One line a person can act on: the code in words and the server's message.
pub fn describe(status: &tonic::Status) -> String {
    let what = match status.code() {
        Code::InvalidArgument => "invalid input",
        Code::FailedPrecondition => "refused",
        Code::AlreadyExists => "already exists",
        Code::NotFound => "not found",
        Code::Unauthenticated => "not authenticated",
        Code::PermissionDenied => "permission denied",
        // The server, or a target database behind it: the message says which.
        Code::Unavailable => "unavailable",
        Code::DeadlineExceeded | Code::Cancelled => "no answer in time",
        Code::ResourceExhausted => "too large",
        Code::Unimplemented => "not implemented by this server yet",
        Code::Aborted => "aborted",
        _ => "error",
    };
    let message = status.message().trim();
    // A failure below gRPC (the connection, HTTP/2) says only "transport
    // error"; what went wrong is in its causes.
    let message = said_once(message, std::error::Error::source(status));
    if message.is_empty() {
        format!("{what} ({:?})", status.code())
    } else {
        format!("{what}: {message}")
    }
}

/// `err` and each error that caused it, joined by ": ", each said once.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    said_once("", Some(err))
}

/// `first` then `cause` and each error that caused it, joined by ": ",
/// the repeats left out (a wrapper often prints its cause's message as its
/// own).
fn said_once(first: &str, cause: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !first.is_empty() {
        parts.push(first.to_string());
    }
    let mut next = cause;
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}
