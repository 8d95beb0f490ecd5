//! Concurrency on real processes: two server replicas on one PostgreSQL
//! catalog, and twenty clients submitting, approving and deploying at once
//! in random interleavings. Nothing is applied twice, no approval is lost,
//! the lineage stays single and the audit chain stays intact.

use crate::release::{applied_ids, example_policy, query_i64};
use schemagate_e2e::{Run, Server, block_on, postgres, sgctl, token};
use std::sync::Mutex;

/// Two servers on one PostgreSQL catalog, both knowing dev and ci.
struct Replicas {
    servers: [Server; 2],
    dev: String,
    ci: String,
    _dir: tempfile::TempDir,
}

fn replicas() -> Replicas {
    let (catalog, dev, ci) = block_on(async {
        (
            postgres().create_database().await,
            postgres().create_database().await,
            postgres().create_database().await,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("schemagate.toml");
    std::fs::write(&policy, example_policy()).unwrap();
    let env = [
        ("SCHEMAGATE_CONFIG", policy.to_str().unwrap()),
        ("SCHEMAGATE_TARGET_DEV_URL", dev.as_str()),
        ("SCHEMAGATE_TARGET_CI_URL", ci.as_str()),
    ];
    // The second replica starts on a catalog the first already migrated.
    let first = Server::start(&catalog, &env);
    let second = Server::start(&catalog, &env);
    Replicas {
        servers: [first, second],
        dev,
        ci,
        _dir: dir,
    }
}

fn run_on(server: &Server, token: &str, args: &[&str]) -> Run {
    server.sgctl(token, args)
}

/// A small deterministic generator, so a failing interleaving can be replayed
/// from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn history(server: &Server, token: &str) -> Vec<(String, String)> {
    let json = run_on(server, token, &["--json", "history"]).json();
    json["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["parent_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn approvals_given_on_one_replica_are_seen_on_the_other_and_racing_deploys_apply_once() {
    let r = replicas();
    let [a, b] = &r.servers;
    let alice = token("alice", &["developer"]);
    let carol = token("carol", &["approver"]);
    let erin = token("erin", &["deployer"]);
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for n in 1..=5 {
        let id = format!("{n:04}_table_{n}");
        std::fs::write(
            dir.path().join(format!("{id}.up.sql")),
            format!("CREATE TABLE t{n} (id bigint PRIMARY KEY);\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{id}.down.sql")),
            format!("DROP TABLE t{n};\n"),
        )
        .unwrap();
        ids.push(id);
    }
    run_on(a, &alice, &["submit", dir.path().to_str().unwrap()]).ok();
    assert_eq!(history(b, &alice).len(), 5, "the lineage is seen on both");

    for id in &ids {
        run_on(b, &carol, &["approve", id, "--env", "dev"]).ok();
        // At once, on the other replica.
        let list = run_on(a, &erin, &["--json", "approvals", id, "--env", "dev"]).json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
        assert_eq!(list[0]["valid"], true, "{list:#}");
    }

    // Each round, both replicas deploy the next revision at once.
    for id in &ids {
        let runs: Vec<Run> = std::thread::scope(|scope| {
            let handles: Vec<_> = [a, b]
                .into_iter()
                .map(|server| {
                    let erin = &erin;
                    scope.spawn(move || {
                        run_on(server, erin, &["deploy", "--env", "dev", "--to", id])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for run in &runs {
            // Either ran it, found nothing left to do, or was turned away by
            // the executor lock; never an error of another kind.
            let fine =
                run.code == 0 || (run.code == 1 && run.stderr.contains("another execution holds"));
            assert!(fine, "{runs:#?}");
        }
        assert!(
            runs.iter()
                .any(|r| r.stdout.contains(&format!("applied {id}"))),
            "{runs:#?}"
        );
    }
    assert_eq!(applied_ids(&r.dev), ids);
    let succeeded = query_i64(
        &a.database_url,
        "SELECT count(*) FROM executions WHERE state = 'succeeded' AND action = 'apply'",
    );
    assert_eq!(succeeded, 5, "one succeeded execution per revision");
    assert_eq!(applied_ids(&r.ci), Vec::<String>::new());
}

#[test]
fn twenty_clients_in_random_interleavings_lose_nothing_and_apply_nothing_twice() {
    let seed: u64 = std::env::var("SCHEMAGATE_INTERLEAVING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("interleaving seed {seed} (replay with SCHEMAGATE_INTERLEAVING_SEED={seed})");
    let r = replicas();
    let alice = token("alice", &["developer"]);
    let approvers = [token("carol", &["approver"]), token("dave", &["approver"])];
    let erin = token("erin", &["deployer"]);
    // Successful approve calls: (approver index, revision, environment).
    let given = Mutex::new(Vec::<(usize, String, String)>::new());
    let ops_per_client = std::env::var("SCHEMAGATE_INTERLEAVING_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);

    std::thread::scope(|scope| {
        for client in 0..20u64 {
            let (r, alice, approvers, erin, given) = (&r, &alice, &approvers, &erin, &given);
            scope.spawn(move || {
                let mut rng =
                    Rng(seed.wrapping_add(client.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                let dir = tempfile::tempdir().unwrap();
                for step in 0..ops_per_client {
                    let server = &r.servers[rng.below(2) as usize];
                    match rng.below(3) {
                        0 => {
                            let next = history(server, alice).len() + 1;
                            let id = format!("{next:04}_c{client}_s{step}");
                            let up = dir.path().join(format!("{id}.up.sql"));
                            std::fs::write(
                                &up,
                                format!("CREATE TABLE c{client}_s{step} (id bigint);\n"),
                            )
                            .unwrap();
                            std::fs::write(
                                dir.path().join(format!("{id}.down.sql")),
                                format!("DROP TABLE c{client}_s{step};\n"),
                            )
                            .unwrap();
                            let run = server.sgctl(alice, &["submit", up.to_str().unwrap()]);
                            // Losing the race for the head is the expected refusal.
                            assert!(
                                run.code == 0 || (run.code == 1 && run.stderr.contains("head")),
                                "{run:#?}"
                            );
                            std::fs::remove_file(&up).unwrap();
                        }
                        1 => {
                            let lineage = history(server, alice);
                            if lineage.is_empty() {
                                continue;
                            }
                            let (id, _) = &lineage[rng.below(lineage.len() as u64) as usize];
                            let env = ["dev", "ci"][rng.below(2) as usize];
                            let who = rng.below(2) as usize;
                            let run = server.sgctl(&approvers[who], &["approve", id, "--env", env]);
                            assert_eq!(run.code, 0, "{run:#?}");
                            given
                                .lock()
                                .unwrap()
                                .push((who, id.clone(), env.to_string()));
                        }
                        _ => {
                            let env = ["dev", "ci"][rng.below(2) as usize];
                            let run = server.sgctl(erin, &["deploy", "--env", env]);
                            // Applied, refused by the gate (missing approval or
                            // promotion), nothing to do, turned away by the lock,
                            // or nothing submitted yet.
                            assert!(
                                run.code == 0
                                    || (run.code == 1
                                        && (run.stdout.contains("gate closed")
                                            || run.stderr.contains("another execution holds")
                                            || run
                                                .stderr
                                                .contains("has no revisions in the catalog"))),
                                "{run:#?}"
                            );
                        }
                    }
                }
            });
        }
    });

    let [a, b] = &r.servers;
    // The lineage is single: each revision's parent is the one before it.
    let lineage = history(a, &alice);
    assert!(!lineage.is_empty(), "seed {seed}: no submit went through");
    assert_eq!(lineage, history(b, &alice));
    for (i, (_, parent)) in lineage.iter().enumerate() {
        let expected = if i == 0 {
            ""
        } else {
            lineage[i - 1].0.as_str()
        };
        assert_eq!(parent, expected, "seed {seed}: {lineage:?}");
    }
    // Each target holds a prefix of the lineage, each revision once.
    let ids: Vec<String> = lineage.iter().map(|(id, _)| id.clone()).collect();
    for url in [&r.dev, &r.ci] {
        let applied = applied_ids(url);
        println!("{} of {} revisions applied", applied.len(), ids.len());
        assert_eq!(applied, ids[..applied.len()], "seed {seed}");
    }
    let twice = query_i64(
        &a.database_url,
        "SELECT count(*) FROM (SELECT environment, revision_id FROM executions \
         WHERE state = 'succeeded' AND action = 'apply' GROUP BY environment, revision_id HAVING count(*) > 1) d",
    );
    assert_eq!(
        twice, 0,
        "seed {seed}: a revision ran twice on one environment"
    );
    // No approval lost: every accepted approve is listed, and the newest of
    // each approver is active.
    for (who, id, env) in given.lock().unwrap().iter() {
        let list = a
            .sgctl(&erin, &["--json", "approvals", id, "--env", env])
            .json();
        let approver = ["carol", "dave"][*who];
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|x| x["approver"] == approver && x["revoked"] == false),
            "seed {seed}: the approval of {approver} on {id} for {env} is missing: {list:#}"
        );
    }
    let verify = sgctl(
        &["audit", "verify"],
        &[
            ("SCHEMAGATE_SERVER", &b.address),
            ("SCHEMAGATE_TOKEN", &erin),
        ],
    );
    assert_eq!(verify.code, 0, "{verify:#?}");
}
