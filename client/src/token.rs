//! Development tokens: HS256 JWTs signed with the same secret the server reads
//! (`SCHEMAGATE_JWT_SECRET`), carrying the issuer and audience it expects.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde::Serialize;

pub const DEFAULT_ISSUER: &str = "schemagate";
pub const DEFAULT_AUDIENCE: &str = "schemagate";
pub const ROLES: [&str; 5] = ["developer", "approver", "deployer", "admin", "agent"];

#[derive(Debug, Serialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_id: Option<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("invalid duration '{0}': use e.g. 90s, 30m, 1h30m, 7d, or seconds")]
    BadDuration(String),
    #[error("unknown role '{0}': choose from developer, approver, deployer, admin, agent")]
    UnknownRole(String),
    #[error("the agent role needs --controller-id (the controller the agent reports for)")]
    AgentWithoutController,
    #[error("{0}")]
    BadControllerId(String),
    #[error("--sub is empty: name who the token speaks for (a person, or a controller's agent)")]
    EmptySubject,
    #[error(
        "the signing secret is {0} bytes; the server refuses secrets shorter than {MIN_SECRET_BYTES} bytes, so none would accept this token"
    )]
    ShortSecret(usize),
    #[error("--ttl must be at least 1s: a token that has already expired is refused by the server")]
    NoLifetime,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// The shortest `SCHEMAGATE_JWT_SECRET` the server starts with.
pub const MIN_SECRET_BYTES: usize = 16;

/// Checks a controller id as the server does: 1 to 64 ASCII letters,
/// digits, '.', '_' or '-', starting with a letter or digit.
pub fn check_controller_id(id: &str) -> Result<(), TokenError> {
    let mut chars = id.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if starts_well && rest_ok && id.len() <= 64 {
        Ok(())
    } else {
        Err(TokenError::BadControllerId(format!(
            "controller id '{}' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. bar3-tap2",
            id.escape_debug()
        )))
    }
}

/// Parses a duration into seconds: plain seconds (`90`), or amounts with
/// the units `s`, `m`, `h` and `d`, alone or together (`90s`, `30m`,
/// `1h30m`, `1d 12h`, `2 h`). The server reads its lifetime setting
/// (`SCHEMAGATE_JWT_MAX_LIFETIME`) the same way.
pub fn parse_duration(text: &str) -> Result<i64, TokenError> {
    let bad = || TokenError::BadDuration(text.to_string());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        return rest.parse().map_err(|_| bad());
    }
    let mut seconds: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let letters = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let amount: i64 = number.parse().map_err(|_| bad())?;
        seconds = amount
            .checked_mul(scale)
            .and_then(|amount| seconds.checked_add(amount))
            .ok_or_else(bad)?;
        rest = after.trim_start();
    }
    Ok(seconds)
}

/// Signs a token for `sub` with `roles`, valid for `ttl_seconds` from `now`.
pub fn mint(
    secret: &str,
    sub: &str,
    roles: &[String],
    controller_id: Option<&str>,
    ttl_seconds: i64,
    now: i64,
) -> Result<String, TokenError> {
    if sub.trim().is_empty() {
        return Err(TokenError::EmptySubject);
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(TokenError::ShortSecret(secret.len()));
    }
    if ttl_seconds <= 0 {
        return Err(TokenError::NoLifetime);
    }
    for role in roles {
        if !ROLES.contains(&role.as_str()) {
            return Err(TokenError::UnknownRole(role.clone()));
        }
    }
    if roles.iter().any(|r| r == "agent") && controller_id.is_none() {
        return Err(TokenError::AgentWithoutController);
    }
    if let Some(id) = controller_id {
        check_controller_id(id)?;
    }
    let claims = Claims {
        sub: sub.to_string(),
        roles: roles.to_vec(),
        controller_id: controller_id.map(str::to_string),
        iss: DEFAULT_ISSUER.to_string(),
        aud: DEFAULT_AUDIENCE.to_string(),
        iat: now,
        exp: now + ttl_seconds,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|err| TokenError::Sign(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration(" 1d 12h "), Ok(129_600));
        assert_eq!(parse_duration("30 m"), Ok(1800));
        for bad in [
            "1w",
            "h",
            "",
            "-5m",
            "-5",
            "1.5h",
            "1h x",
            "m30",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_are_checked_before_signing() {
        let err = mint("0123456789abcdef", "a", &["root".into()], None, 60, 0).unwrap_err();
        assert_eq!(err, TokenError::UnknownRole("root".into()));
        let err = mint("0123456789abcdef", "a", &["agent".into()], None, 60, 0).unwrap_err();
        assert_eq!(err, TokenError::AgentWithoutController);
    }

    #[test]
    fn tokens_no_server_would_accept_are_not_minted() {
        let secret = "0123456789abcdef";
        let dev = ["developer".to_string()];
        let agent = ["agent".to_string()];
        assert_eq!(
            mint(secret, " ", &dev, None, 60, 0),
            Err(TokenError::EmptySubject)
        );
        assert_eq!(
            mint("short", "a", &dev, None, 60, 0),
            Err(TokenError::ShortSecret(5))
        );
        assert_eq!(
            mint(secret, "a", &dev, None, 0, 0),
            Err(TokenError::NoLifetime)
        );
        for bad in ["", "-tap", "bar 3", "bär3", &"x".repeat(65)] {
            assert!(
                matches!(
                    mint(secret, "a", &agent, Some(bad), 60, 0),
                    Err(TokenError::BadControllerId(_))
                ),
                "{bad:?}"
            );
        }
        for good in ["bar3-tap2", "B.7_x", &"x".repeat(64)] {
            assert!(
                mint(secret, "a", &agent, Some(good), 60, 0).is_ok(),
                "{good:?}"
            );
        }
    }
}
