//! Test harness for end-to-end tests: a real PostgreSQL (the server named by
//! `SCHEMAGATE_TEST_DATABASE_URL`, or a throwaway cluster started from
//! `initdb`/`pg_ctl` and removed when the test process exits), the real
//! `schemagate-server` binary and the real `sgctl`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod controller_sim;
pub mod postgres;

pub use postgres::{Postgres, postgres};

/// The HS256 secret every test server is started with.
pub const SECRET: &str = "test-secret-0123456789abcdef";

/// Runs a future to completion from synchronous test code.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A name unique within this test process.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Directory holding the workspace's binaries, built once per test process so
/// the tests never run stale ones.
///
/// `SCHEMAGATE_E2E_BIN_DIR` names a directory of binaries built elsewhere
/// instead (a benchmark comparing two builds); nothing is built then.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("SCHEMAGATE_E2E_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/<test binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(workspace)
            .args([
                "build",
                "--bin",
                "schemagate-server",
                "--bin",
                "sgctl",
                "--bin",
                "sg-agent",
            ])
            .arg("--target-dir")
            .arg(&target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    })
}

/// What a finished `sgctl` run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        &self.stdout
    }

    /// Asserts the exit code and that stderr mentions `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}: {self:#?}"
        );
    }

    /// Asserts a refusal (exit 1) whose printed verdict or progress
    /// mentions `needle`: a closed gate is an answer, printed on stdout.
    #[track_caller]
    pub fn refused(&self, needle: &str) {
        assert_eq!(self.code, 1, "expected a refusal, got {self:#?}");
        assert!(
            self.stdout.contains(needle),
            "stdout should mention {needle:?}: {self:#?}"
        );
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }
}

/// Runs `sgctl` with `args` and extra environment.
pub fn sgctl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin_dir().join("sgctl"));
    command
        .args(args)
        .env_remove("SCHEMAGATE_TOKEN")
        .env_remove("SCHEMAGATE_SERVER")
        .env("SCHEMAGATE_JWT_SECRET", SECRET);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run sgctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Mints a token for `sub` with `roles` through `sgctl token mint`.
pub fn token(sub: &str, roles: &[&str]) -> String {
    let mut args = vec!["token", "mint", "--sub", sub];
    for role in roles {
        args.extend(["--role", role]);
    }
    sgctl(&args, &[]).ok().trim().to_string()
}

/// A running `schemagate-server`, killed when dropped.
pub struct Server {
    child: Child,
    pub address: String,
    pub database_url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on the embedded SQLite catalog in a fresh directory.
    pub fn sqlite() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
        Server::start_in(dir, &url, &[])
    }

    /// Starts a server on a fresh PostgreSQL catalog database.
    pub fn postgres() -> Server {
        let url = block_on(postgres().create_database());
        Server::start_in(tempfile::tempdir().expect("temp dir"), &url, &[])
    }

    /// Starts a server with the given catalog URL and extra environment.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        Server::start_in(tempfile::tempdir().expect("temp dir"), database_url, env)
    }

    fn start_in(dir: tempfile::TempDir, database_url: &str, env: &[(&str, &str)]) -> Server {
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(bin_dir().join("schemagate-server"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCHEMAGATE_LISTEN", "127.0.0.1:0")
            .env("SCHEMAGATE_DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        // A public key replaces the shared secret: the server takes one or the other.
        if !env
            .iter()
            .any(|(key, _)| *key == "SCHEMAGATE_JWT_PUBLIC_KEY")
        {
            command.env("SCHEMAGATE_JWT_SECRET", SECRET);
        }
        // A benchmark may inject faults into the server alone (see
        // tests/benches/disk_stall.c); the environment is cleared above.
        if let Some(preload) = std::env::var_os("SCHEMAGATE_E2E_SERVER_LD_PRELOAD") {
            command.env("LD_PRELOAD", preload);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start schemagate-server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(address) = line.trim().strip_prefix("schemagate-server listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start (printed {line:?}); its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Server {
            address: format!("http://{address}"),
            child,
            database_url: database_url.to_string(),
            log,
            _dir: dir,
        }
    }

    /// Runs `sgctl` against this server with `token`.
    pub fn sgctl(&self, token: &str, args: &[&str]) -> Run {
        sgctl(
            args,
            &[
                ("SCHEMAGATE_SERVER", &self.address),
                ("SCHEMAGATE_TOKEN", token),
            ],
        )
    }

    /// The server's process id (for benchmarks reading its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `timeout` for the server to exit.
    /// Returns its exit status, or None (after killing it) if it was still running.
    pub fn terminate(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                _ => {
                    self.kill();
                    return None;
                }
            }
        }
    }

    /// Stops the server with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes revision files into `dir`: (id, up, down).
pub fn write_revisions(dir: &Path, revisions: &[(&str, &str, &str)]) {
    for (id, up, down) in revisions {
        std::fs::write(dir.join(format!("{id}.up.sql")), up).expect("write up");
        if !down.is_empty() {
            std::fs::write(dir.join(format!("{id}.down.sql")), down).expect("write down");
        }
    }
}

/// Polls `check` every 100 ms until it holds; panics naming `what` after
/// `limit`.
#[track_caller]
pub fn wait_for(limit: std::time::Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
