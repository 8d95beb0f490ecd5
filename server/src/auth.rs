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
    // Optional and as numbers here: the validation requires `exp` and says
    // so, which a failed deserialization would not.
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
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
    /// The longest lifetime a token may have (`exp` after `iat`, or after
    /// now without `iat`); `None`: any.
    max_lifetime: Option<i64>,
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
        Ok(Authenticator {
            key,
            validation,
            max_lifetime: None,
        })
    }

    /// Refuses tokens valid for longer than `seconds` in all: a leaked
    /// token then stops working within that time, however long the issuer
    /// made it.
    pub fn with_max_lifetime(mut self, seconds: Option<i64>) -> Authenticator {
        self.max_lifetime = seconds;
        self
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
        if let (Some(max), Some(exp)) = (self.max_lifetime, claims.exp) {
            let from = claims
                .iat
                .unwrap_or_else(|| jsonwebtoken::get_current_timestamp() as f64);
            // `as` saturates: an absurd claim reads as an absurd lifetime.
            let lifetime = (exp - from) as i64;
            if lifetime > max.saturating_add(self.validation.leeway as i64) {
                return Err(AuthError::InvalidToken(format!(
                    "the token is valid for {}{}, longer than this server accepts ({}, SCHEMAGATE_JWT_MAX_LIFETIME): mint one with a shorter lifetime (sgctl token mint --ttl)",
                    show_seconds(lifetime),
                    if claims.iat.is_some() {
                        ""
                    } else {
                        " from now (it has no iat)"
                    },
                    show_seconds(max)
                )));
            }
        }
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

/// A token lifetime setting: seconds, or a span such as `12h`, `30d`.
pub fn parse_lifetime(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("'{text}' is not a lifetime: use e.g. 12h, 30d or 3600 (seconds)");
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            let span: jiff::Span = text.parse().map_err(|_| bad())?;
            let total = span
                .total(jiff::SpanTotal::from(jiff::Unit::Second).days_are_24_hours())
                .map_err(|_| bad())?;
            total.round() as i64
        }
    };
    if seconds < 1 {
        return Err(format!(
            "'{text}': a maximum token lifetime must be at least 1s"
        ));
    }
    Ok(seconds)
}

/// Whole days, hours, minutes or seconds, as a lifetime reads best.
fn show_seconds(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
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
    use super::{Authenticator, parse_lifetime, person};

    #[test]
    fn lifetimes_read_as_seconds_or_spans() {
        assert_eq!(parse_lifetime("3600"), Ok(3600));
        assert_eq!(parse_lifetime("12h"), Ok(12 * 3600));
        assert_eq!(parse_lifetime(" 30d "), Ok(30 * 86_400));
        assert_eq!(parse_lifetime("1h30m"), Ok(5400));
        for bad in ["", "0", "-5", "soon", "0s"] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_token_living_longer_than_the_maximum_is_refused() {
        const SECRET: &str = "a-test-secret-of-32-bytes-length";
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .expect("sign")
        };
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let token = |iat: Option<i64>, exp: i64| {
            let mut claims = serde_json::json!({
                "sub": "alice", "roles": ["developer"], "iss": "schemagate",
                "aud": "schemagate", "exp": exp,
            });
            if let Some(iat) = iat {
                claims["iat"] = iat.into();
            }
            sign(claims)
        };
        let auth = Authenticator::from_config(Some(SECRET), None, "schemagate", "schemagate")
            .expect("key")
            .with_max_lifetime(Some(86_400));
        assert!(auth.verify(&token(Some(now), now + 3600)).is_ok());
        assert!(auth.verify(&token(None, now + 86_400)).is_ok());
        let refused = auth
            .verify(&token(Some(now), now + 7 * 86_400))
            .expect_err("a week");
        assert!(
            refused
                .to_string()
                .contains("valid for 7d, longer than this server accepts (1d"),
            "{refused}"
        );
        // Issued long ago, with little of it left: its lifetime still counts.
        assert!(
            auth.verify(&token(Some(now - 30 * 86_400), now + 60))
                .is_err()
        );
        let refused = auth.verify(&token(None, now + 2 * 86_400)).expect_err("2d");
        assert!(
            refused.to_string().contains("from now (it has no iat)"),
            "{refused}"
        );
        // Without a maximum, any lifetime passes.
        let any = Authenticator::from_config(Some(SECRET), None, "schemagate", "schemagate")
            .expect("key");
        assert!(any.verify(&token(Some(now), now + 365 * 86_400)).is_ok());
    }

    #[test]
    fn one_person_however_the_name_is_written() {
        for alias in ["Alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
            assert_eq!(person(alias), person("alice"), "{alias}");
        }
        assert_ne!(person("alice"), person("alicia"));
        assert_ne!(person("alice"), person("alice2"));
    }
}
