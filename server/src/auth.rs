//! Bearer-token authentication: verifies a request's JWT (HS256 with a shared
//! secret for development, EdDSA or RS256 with a public key for production)
//! and says who the caller is and which roles it holds.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use std::fmt;

/// The `iss` and `aud` the server expects unless configured otherwise; `sgctl
/// token mint` uses the same defaults.
pub const DEFAULT_ISSUER: &str = "schemagate";
pub const DEFAULT_AUDIENCE: &str = "schemagate";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Developer,
    Approver,
    Deployer,
    Admin,
    Agent,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Developer,
        Role::Approver,
        Role::Deployer,
        Role::Admin,
        Role::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Approver => "approver",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "missing bearer token: send 'authorization: Bearer <jwt>' (sgctl: --token or SCHEMAGATE_TOKEN)"
    )]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("{subject} lacks the role for this call: needs one of {needed}")]
    MissingRole { subject: String, needed: String },
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    controller_id: Option<String>,
}

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub roles: Vec<Role>,
    pub controller_id: Option<String>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Passes when the caller holds at least one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.iter().any(|role| self.has(*role)) {
            return Ok(());
        }
        let needed: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        Err(AuthError::MissingRole {
            subject: self.subject.clone(),
            needed: needed.join(", "),
        })
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|role| role.to_string()).collect()
    }
}

/// Verifies tokens against one key.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no token verification key: set SCHEMAGATE_JWT_SECRET (development, HS256) or SCHEMAGATE_JWT_PUBLIC_KEY (a PEM file, EdDSA or RS256)"
    )]
    Missing,
    #[error("SCHEMAGATE_JWT_SECRET and SCHEMAGATE_JWT_PUBLIC_KEY are both set: choose one")]
    Both,
    #[error("SCHEMAGATE_JWT_SECRET is shorter than 16 bytes: use a longer secret")]
    WeakSecret,
    #[error("cannot read the public key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is neither an Ed25519 nor an RSA public key in PEM form")]
    NotAKey { path: String },
}

impl Authenticator {
    /// Builds the verifier from the configured secret or public key file.
    pub fn from_config(
        secret: Option<&str>,
        public_key_path: Option<&str>,
        issuer: &str,
        audience: &str,
    ) -> Result<Authenticator, KeyError> {
        let (key, algorithms) = match (secret, public_key_path) {
            (Some(_), Some(_)) => return Err(KeyError::Both),
            (None, None) => return Err(KeyError::Missing),
            (Some(secret), None) => {
                if secret.len() < 16 {
                    return Err(KeyError::WeakSecret);
                }
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    vec![Algorithm::HS256],
                )
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|source| KeyError::Read {
                    path: path.to_string(),
                    source,
                })?;
                if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
                    (key, vec![Algorithm::EdDSA])
                } else if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    (key, vec![Algorithm::RS256])
                } else {
                    return Err(KeyError::NotAKey {
                        path: path.to_string(),
                    });
                }
            }
        };
        // One algorithm per key: a token signed with any other (including
        // `none`, or HS256 keyed with a public key) is refused.
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Authenticator { key, validation })
    }

    /// Authenticates the bearer token in a request's metadata.
    pub fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Caller, AuthError> {
        let header = metadata
            .get("authorization")
            .ok_or(AuthError::MissingToken)?
            .to_str()
            .map_err(|_| AuthError::InvalidToken("authorization header is not ASCII".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                AuthError::InvalidToken("authorization header must be 'Bearer <jwt>'".into())
            })?
            .trim();
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|err| AuthError::InvalidToken(describe(&err)))?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::InvalidToken("the sub claim is empty".into()));
        }
        // `carol ` would sign as a second carol, and look like her in a log.
        if claims.sub.trim() != claims.sub {
            return Err(AuthError::InvalidToken(format!(
                "the sub claim '{}' has leading or trailing whitespace",
                claims.sub.escape_debug()
            )));
        }
        // The subject is written as author, approver and actor into the
        // catalog and its audit log: a NUL cannot be stored in PostgreSQL
        // text, and other control characters would forge log lines.
        if claims.sub.len() > MAX_SUBJECT_BYTES || claims.sub.chars().any(char::is_control) {
            return Err(AuthError::InvalidToken(format!(
                "the sub claim must be at most {MAX_SUBJECT_BYTES} bytes without control characters ({} bytes given)",
                claims.sub.len()
            )));
        }
        let mut roles = Vec::with_capacity(claims.roles.len());
        for name in &claims.roles {
            let role = Role::parse(name).ok_or_else(|| {
                let shown: String = name
                    .chars()
                    .take(32)
                    .collect::<String>()
                    .escape_debug()
                    .to_string();
                AuthError::InvalidToken(format!("unknown role '{shown}' in the roles claim"))
            })?;
            roles.push(role);
        }
        Ok(Caller {
            subject: claims.sub,
            roles,
            controller_id: claims.controller_id,
        })
    }
}

/// The person a subject names, for telling people apart: case and Unicode
/// compatibility forms are folded (NFKC), so `Alice`, `ALICE` and `ａlice`
/// are one person, who cannot approve as another what they wrote, nor fill
/// two seats of the approval matrix.
pub fn person(subject: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    subject.nfkc().collect::<String>().to_lowercase()
}

/// Longest subject a token may carry.
const MAX_SUBJECT_BYTES: usize = 256;

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "the token has expired: mint a new one".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf is in the future)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".into(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => {
            "signed with an algorithm this server does not accept".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the {claim} claim is missing"),
        _ => format!("malformed token ({err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::person;

    #[test]
    fn one_person_however_the_name_is_written() {
        for alias in ["Alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
            assert_eq!(person(alias), person("alice"), "{alias}");
        }
        assert_ne!(person("alice"), person("alicia"));
        assert_ne!(person("alice"), person("alice2"));
    }
}
