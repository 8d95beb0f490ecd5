//! Authentication and roles: each failure with its status code, as sgctl
//! reports it (exit 4) and the message a person can act on.

use schemagate_e2e::{SECRET, Server, sgctl, token};

/// A token of the edge agent `tap2` of controller `bar3-tap2`.
fn agent_token() -> String {
    sgctl(
        &[
            "token",
            "mint",
            "--sub",
            "tap2",
            "--role",
            "agent",
            "--controller-id",
            "bar3-tap2",
        ],
        &[],
    )
    .ok()
    .trim()
    .to_string()
}

#[test]
fn every_auth_failure_is_refused_with_its_reason() {
    let server = Server::sqlite();
    let history = ["history"];

    server.sgctl("", &history).fails(4, "missing bearer token");
    server
        .sgctl("not-a-jwt", &history)
        .fails(4, "invalid token");

    let other_secret = sgctl(
        &["token", "mint", "--sub", "eve", "--role", "admin"],
        &[("SCHEMAGATE_JWT_SECRET", "another-secret-0123456789")],
    );
    server
        .sgctl(other_secret.ok().trim(), &history)
        .fails(4, "bad signature");
    // Tokens no server would accept are not minted.
    for (args, secret, why) in [
        (
            &["--sub", "", "--role", "admin"][..],
            SECRET,
            "--sub is empty",
        ),
        (
            &["--sub", "eve", "--role", "admin"][..],
            "short",
            "the signing secret is 5 bytes",
        ),
        (
            &["--sub", "eve", "--role", "admin", "--ttl", "0s"][..],
            SECRET,
            "--ttl must be at least 1s",
        ),
        (
            &[
                "--sub",
                "tap",
                "--role",
                "agent",
                "--controller-id",
                "bar 3",
            ][..],
            SECRET,
            "controller id 'bar 3' must be 1 to 64 letters",
        ),
    ] {
        let mut mint = vec!["token", "mint"];
        mint.extend(args);
        sgctl(&mint, &[("SCHEMAGATE_JWT_SECRET", secret)]).fails(2, why);
    }

    // A token whose lifetime is over.
    let expired = mint_raw(serde_json::json!({
        "sub": "alice", "roles": ["developer"], "iss": "schemagate", "aud": "schemagate",
        "iat": 1_000, "exp": 2_000,
    }));
    server.sgctl(&expired, &history).fails(4, "expired");
    let wrong_audience = mint_raw(serde_json::json!({
        "sub": "alice", "roles": ["developer"], "iss": "schemagate", "aud": "elsewhere",
        "exp": 4_000_000_000u64,
    }));
    server.sgctl(&wrong_audience, &history).fails(4, "audience");
    let wrong_issuer = mint_raw(serde_json::json!({
        "sub": "alice", "roles": ["developer"], "iss": "someone", "aud": "schemagate",
        "exp": 4_000_000_000u64,
    }));
    server.sgctl(&wrong_issuer, &history).fails(4, "issuer");
    // Roles escalated in an unsigned (`alg: none`) token.
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(br#"{"sub":"eve","roles":["admin"],"iss":"schemagate","aud":"schemagate","exp":4000000000}"#)
    );
    server.sgctl(&unsigned, &history).fails(4, "invalid token");

    // Authenticated, but the role does not allow the call.
    let agent = agent_token();
    server.sgctl(&agent, &history).fails(4, "permission denied");
    let approver = token("carol", &["approver"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("0001_baseline.up.sql"),
        "CREATE TABLE t (id int);",
    )
    .unwrap();
    server
        .sgctl(&approver, &["submit", dir.path().to_str().unwrap()])
        .fails(4, "needs one of developer, admin");
    // Nothing was stored by the refused submit.
    let history = server.sgctl(&approver, &["--json", "history"]).json();
    assert_eq!(history["revisions"].as_array().unwrap().len(), 0);
}

#[test]
fn the_server_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(schemagate_e2e::bin_dir().join("schemagate-server"))
        .env_clear()
        .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
        .env(
            "SCHEMAGATE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SCHEMAGATE_JWT_SECRET"), "{stderr}");
}

/// A call that would change state, refused for the caller's role, is on
/// record like the refusals the calls make themselves; a read is not.
#[test]
fn a_change_refused_for_the_role_is_audited() {
    let server = Server::sqlite();
    let alice = token("alice", &["developer"]);
    let erin = token("erin", &["deployer"]);
    server
        .sgctl(&alice, &["approve", "0001_baseline", "--env", "pilot"])
        .fails(4, "lacks the role");
    server
        .sgctl(&erin, &["freeze", "--env", "pilot", "--reason", "incident"])
        .fails(4, "lacks the role");
    server
        .sgctl(&alice, &["deploy", "--env", "pilot"])
        .fails(4, "lacks the role");
    let agent = agent_token();
    server
        .sgctl(&agent, &["history"])
        .fails(4, "permission denied");
    let admin = token("root", &["admin"]);
    let audit = server.sgctl(&admin, &["--json", "audit"]).json();
    let refused: Vec<(&str, &str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["environment"].as_str().unwrap_or(""),
                e["subject"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("alice", "execution.apply", "pilot", ""),
            ("erin", "environment.freeze", "pilot", ""),
            ("alice", "approval.approve", "pilot", "0001_baseline"),
        ],
        "{audit:#}"
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != "tap2"),
        "a refused read is not audited: {audit:#}"
    );
}

/// Any valid token can be refused for its role, an edge controller's too:
/// the log keeps a bounded number of such rows a minute per caller, so a
/// leaked token cannot fill it; the calls are refused all the same.
#[test]
fn role_refusals_of_one_caller_are_audited_up_to_a_budget_a_minute() {
    let server = Server::sqlite();
    let agent = agent_token();
    for _ in 0..33 {
        server
            .sgctl(&agent, &["approve", "0001_baseline", "--env", "pilot"])
            .fails(4, "lacks the role");
    }
    server
        .sgctl(
            &token("alice", &["developer"]),
            &["approve", "0001_baseline", "--env", "pilot"],
        )
        .fails(4, "lacks the role");
    let admin = token("root", &["admin"]);
    let audit = server
        .sgctl(&admin, &["--json", "audit", "--limit", "100"])
        .json();
    let rows = audit.as_array().unwrap();
    let of_agent: Vec<&serde_json::Value> = rows.iter().filter(|e| e["actor"] == "tap2").collect();
    assert_eq!(of_agent.len(), 30, "{audit:#}");
    // Newest first: the last audited one says what happens next.
    assert!(
        of_agent[0]["detail"]
            .as_str()
            .unwrap()
            .contains("the last of 30 such refusals of tap2's calls audited this minute"),
        "{audit:#}"
    );
    assert!(rows.iter().any(|e| e["actor"] == "alice"), "{audit:#}");
}

#[test]
fn a_server_with_a_maximum_token_lifetime_refuses_longer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let server = Server::start(&url, &[("SCHEMAGATE_JWT_MAX_LIFETIME", "1d")]);
    let mint = |ttl: &str| {
        sgctl(
            &[
                "token",
                "mint",
                "--sub",
                "alice",
                "--role",
                "developer",
                "--ttl",
                ttl,
            ],
            &[],
        )
        .ok()
        .trim()
        .to_string()
    };
    server.sgctl(&mint("12h"), &["history"]).ok();
    server.sgctl(&mint("23h 59m"), &["history"]).ok();
    server.sgctl(&mint("30d"), &["history"]).fails(
        4,
        "the token is valid for 30d, longer than this server accepts (1d, SCHEMAGATE_JWT_MAX_LIFETIME)",
    );
    server.sgctl(&mint("1d1h"), &["history"]).fails(
        4,
        "the token is valid for 25h, longer than this server accepts (1d,",
    );
    // A setting that is no lifetime stops the server at start, saying so.
    let output = std::process::Command::new(schemagate_e2e::bin_dir().join("schemagate-server"))
        .env_clear()
        .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
        .env("SCHEMAGATE_DATABASE_URL", &url)
        .env("SCHEMAGATE_JWT_SECRET", schemagate_e2e::SECRET)
        .env("SCHEMAGATE_JWT_MAX_LIFETIME", "forever")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'forever' is not a lifetime: use e.g. 12h, 30d"),
        "{stderr}"
    );
}

/// `sgctl`'s `--ttl`, `--for` and `sg-agent --interval` read a duration as
/// the server reads `SCHEMAGATE_JWT_MAX_LIFETIME`: a lifetime written the
/// same way on both sides means the same number of seconds.
#[test]
fn the_clients_and_the_server_read_a_duration_alike() {
    use schemagate_client::token::parse_duration;
    use schemagate_server::auth::parse_lifetime;
    for text in [
        "90", "90s", "30m", "1h", "7d", "1h30m", "1h 30m", "1d 12h", " 12h ", "2d3h4m5s", "2 h",
    ] {
        let client = parse_duration(text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert_eq!(Ok(client), parse_lifetime(text), "{text:?}");
    }
    for text in ["", "forever", "h", "1x", "-5m"] {
        assert!(parse_duration(text).is_err(), "{text:?}");
        assert!(parse_lifetime(text).is_err(), "{text:?}");
    }
}

#[test]
fn a_public_key_server_accepts_eddsa_and_refuses_hs256() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("signing.pem");
    let public = dir.path().join("verify.pem");
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let server = Server::start(
        &format!("sqlite://{}", dir.path().join("c.db").display()),
        &[("SCHEMAGATE_JWT_PUBLIC_KEY", public.to_str().unwrap())],
    );
    let claims = serde_json::json!({
        "sub": "alice", "roles": ["developer"], "iss": "schemagate", "aud": "schemagate",
        "exp": 4_000_000_000u64,
    });
    let signed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&std::fs::read(&private).unwrap()).unwrap(),
    )
    .unwrap();
    server.sgctl(&signed, &["history"]).ok();

    // HS256 keyed with the public key itself: the classic algorithm confusion.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&std::fs::read(&public).unwrap()),
    )
    .unwrap();
    server.sgctl(&confused, &["history"]).fails(4, "algorithm");
    let parts: Vec<&str> = signed.split('.').collect();
    let mut signature = unb64(parts[2]);
    signature[0] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    server
        .sgctl(&forged, &["history"])
        .fails(4, "bad signature");
    let unsigned = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    server
        .sgctl(&unsigned, &["history"])
        .fails(4, "not authenticated");
    server
        .sgctl(&mint_raw(claims), &["history"])
        .fails(4, "algorithm");
}

#[test]
fn every_forged_altered_or_out_of_date_token_is_unauthenticated() {
    let server = Server::sqlite();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = token("alice", &["developer"]);
    server.sgctl(&valid, &["history"]).ok();
    let parts: Vec<&str> = valid.split('.').collect();
    assert_eq!(parts.len(), 3, "{valid}");

    // The same claims with the roles raised to admin, the signature kept.
    let mut claims: serde_json::Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    claims["roles"] = serde_json::json!(["admin"]);
    let escalated = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    // The signature with one bit flipped.
    let mut signature = unb64(parts[2]);
    signature[0] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    let unsigned = |alg: &str, signature: &str| {
        format!(
            "{}.{}.{signature}",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes()),
            b64(claims.to_string().as_bytes()),
        )
    };
    let other_secret = sgctl(
        &["token", "mint", "--sub", "eve", "--role", "admin"],
        &[("SCHEMAGATE_JWT_SECRET", "another-secret-0123456789")],
    );
    let claims_with = |extra: serde_json::Value| {
        let mut claims = serde_json::json!({
            "sub": "alice", "roles": ["developer"], "iss": "schemagate", "aud": "schemagate",
            "exp": now + 3600,
        });
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        mint_raw(claims)
    };
    let cases = [
        ("no token", String::new(), "missing bearer token"),
        (
            "expired",
            claims_with(serde_json::json!({"exp": now - 3600})),
            "expired",
        ),
        (
            "not yet valid",
            claims_with(serde_json::json!({"nbf": now + 3600})),
            "not valid yet",
        ),
        (
            "wrong issuer",
            claims_with(serde_json::json!({"iss": "someone"})),
            "issuer",
        ),
        (
            "wrong audience",
            claims_with(serde_json::json!({"aud": "elsewhere"})),
            "audience",
        ),
        (
            "no expiry",
            claims_with(serde_json::json!({"exp": null})),
            "exp claim is missing",
        ),
        (
            "an unknown role",
            claims_with(serde_json::json!({"roles": ["root"]})),
            "unknown role",
        ),
        (
            "an empty subject",
            claims_with(serde_json::json!({"sub": " "})),
            "sub claim is empty",
        ),
        (
            "a NUL in the subject",
            claims_with(serde_json::json!({"sub": "alice\u{0}admin"})),
            "without control characters",
        ),
        (
            "a newline in the subject",
            claims_with(serde_json::json!({"sub": "alice\nactor=admin"})),
            "without control characters",
        ),
        (
            "a 300-byte subject",
            claims_with(serde_json::json!({"sub": "a".repeat(300)})),
            "at most 256 bytes",
        ),
        ("alg none", unsigned("none", ""), "invalid token"),
        (
            "alg NONE with the signature",
            unsigned("NONE", parts[2]),
            "invalid token",
        ),
        (
            "roles escalated, signature kept",
            escalated,
            "bad signature",
        ),
        ("a forged signature", forged, "bad signature"),
        (
            "signed with another secret",
            other_secret.ok().trim().to_string(),
            "bad signature",
        ),
        ("not a JWT", "a.b.c".to_string(), "invalid token"),
    ];
    for (what, token, reason) in &cases {
        let run = server.sgctl(token, &["history"]);
        assert_eq!(run.code, 4, "{what}: {run:#?}");
        assert!(
            run.stderr.contains("not authenticated") && run.stderr.contains(reason),
            "{what}: UNAUTHENTICATED because {reason}: {run:#?}"
        );
    }
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs arbitrary claims with the test secret (HS256).
fn mint_raw(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign test token")
}
