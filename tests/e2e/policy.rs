//! The policy file: loaded at start, exposed with its sha256, and a broken
//! file stops the server with a message naming the line.

use schemagate_e2e::{Server, token};
use std::path::Path;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/schemagate.toml")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_loaded_policy_is_served_with_its_hash_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let server = Server::start(&url, &[("SCHEMAGATE_CONFIG", &example())]);
    let approver = token("carol", &["approver"]);
    let policy = server.sgctl(&approver, &["--json", "policy"]).json();
    assert_eq!(
        policy["environments"],
        serde_json::json!(["dev", "ci", "pilot"])
    );
    let source = std::fs::read_to_string(example()).unwrap();
    assert_eq!(policy["source"], source);
    let human = server.sgctl(&approver, &["policy"]).ok().to_string();
    assert!(human.contains("dev -> ci -> pilot"), "{human}");
    let sha = policy["sha256"].as_str().unwrap();
    let audit = server.sgctl(&approver, &["--json", "audit"]).json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "policy.load" && e["detail"].as_str().unwrap().contains(sha)),
        "{audit:#}"
    );

    let bare = Server::sqlite();
    bare.sgctl(&approver, &["policy"])
        .fails(1, "SCHEMAGATE_CONFIG");
}

#[test]
fn a_broken_policy_file_stops_the_server_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("schemagate.toml");
    let text =
        std::fs::read_to_string(example())
            .unwrap()
            .replacen("Europe/Berlin", "Europe/Atlantis", 1);
    std::fs::write(&broken, &text).unwrap();
    let line = text.lines().position(|l| l.contains("Atlantis")).unwrap() + 1;
    let output = std::process::Command::new(schemagate_e2e::bin_dir().join("schemagate-server"))
        .env_clear()
        .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
        .env("SCHEMAGATE_JWT_SECRET", schemagate_e2e::SECRET)
        .env(
            "SCHEMAGATE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .env("SCHEMAGATE_CONFIG", &broken)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "schemagate.toml:{line}: unknown time zone 'Europe/Atlantis'"
        )),
        "{stderr}"
    );
}
