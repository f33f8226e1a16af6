//! `engine run` from the command line: a paper run on the simulator that serves `/metrics` and
//! stops cleanly on SIGTERM, and the refusals of real mode and of the live feed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use engine::model::synthetic::scratch_profile;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn engine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_engine"));
    command.current_dir(root());
    command
}

/// A profile that points the registry at the synthetic model and the data under `dir`, with a
/// hot thread that sleeps when idle (tests run side by side; spinning ones would race for the
/// hot core).
fn profile(dir: &Path) -> PathBuf {
    let path = scratch_profile(dir).unwrap();
    let text = std::fs::read_to_string(&path).unwrap() + "engine:\n  busy_poll: false\n";
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_paper_run_serves_metrics_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let mut child = engine()
        .args(["run", "--feed", "sim", "--regime", "high-vol", "--profile"])
        .arg(&profile)
        .env_remove("EXCHANGE_MODE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no metrics URL in {banner}"
        );
        banner.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("metrics: ") {
            break url.to_owned();
        }
    };
    assert!(banner.contains("mode paper"), "{banner}");
    assert!(
        banner.contains("model: active synthetic-42 (onnx)"),
        "{banner}"
    );
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap();

    // Scrape until frames have been counted (the simulator runs in real time).
    let scrape = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let response = (0..600)
        .map(|_| {
            let response = scrape();
            if !response.contains("\nfeed_frames_total 0\n") {
                return Some(response);
            }
            std::thread::sleep(Duration::from_millis(50));
            None
        })
        .find_map(|response| response)
        .expect("no frame counted in 30 s");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\nfeed_frames_total "), "{response}");
    assert!(
        response.contains("\nonnx_parity_fail_total 0\n"),
        "{response}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("== summary (stopped by signal"), "{rest}");
    assert!(rest.contains(" left at the venue"), "{rest}");
    assert!(
        rest.contains("latency (pinned hot thread)") || rest.contains("latency (unpinned"),
        "{rest}"
    );
    // The run's outputs are under paths.data/runs/.
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("data/runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    assert!(run.join("decisions.jsonl").is_file());
    assert!(run.join("metrics.prom").is_file());
}

fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    refused_with(&profile(dir.path()), args, env)
}

/// `engine run ARGS --profile PROFILE` with `env` (and no credentials or mode from the test's
/// environment): it must fail with nothing on stdout; its stderr.
fn refused_with(profile: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = engine();
    command
        .arg("run")
        .args(args)
        .arg("--profile")
        .arg(profile)
        .env_remove("BYBIT_API_KEY")
        .env_remove("BYBIT_API_SECRET")
        .env_remove("EXCHANGE_MODE");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn real_mode_needs_credentials_and_a_venue_that_answers_and_never_shows_the_secret() {
    let stderr = refused(&["--mode", "real", "--feed", "bybit"], &[]);
    assert!(
        stderr.contains("set BYBIT_API_KEY and BYBIT_API_SECRET"),
        "{stderr}"
    );

    // From EXCHANGE_MODE too, with credentials, at a venue that does not answer (a closed
    // loopback port): refused at its first call, nothing sent, secret unshown.
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let text = std::fs::read_to_string(&profile).unwrap()
        + "exchange:\n  endpoints:\n    mainnet:\n      rest: http://127.0.0.1:1\n";
    std::fs::write(&profile, text).unwrap();
    let credentials = [
        ("EXCHANGE_MODE", "real"),
        ("BYBIT_API_KEY", "keyvalue1"),
        ("BYBIT_API_SECRET", "secret-value-2"),
    ];
    let real = |args: &[&str], env: &[(&str, &str)]| refused_with(&profile, args, env);
    // On the simulator: refused, real mode trades the live market only.
    let stderr = real(&[], &credentials);
    assert_eq!(
        stderr,
        "error: real mode trades the live market: run it with --feed bybit\n"
    );
    let stderr = real(&["--feed", "bybit"], &credentials);
    assert!(
        stderr.starts_with("error: real mode: venue clock: GET /v5/market/time: no answer: "),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("; no order was sent"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-value-2"));

    // A credentials file readable by others is refused; an owner-only one is read.
    let file = dir.path().join("bybit.env");
    std::fs::write(&file, "BYBIT_API_KEY=k\nBYBIT_API_SECRET=s\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.to_str().unwrap();
    let stderr = refused(
        &["--mode", "real", "--feed", "bybit", "--credentials", path],
        &[],
    );
    assert!(stderr.contains("readable by others (mode 644)"), "{stderr}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stderr = real(
        &["--mode", "real", "--feed", "bybit", "--credentials", path],
        &[],
    );
    assert!(
        stderr.contains("venue clock: GET /v5/market/time: no answer"),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_are_refused_with_their_reason() {
    let stderr = refused(&["--duration=0"], &[]);
    assert!(
        stderr.contains("--duration 0: must be a positive number"),
        "{stderr}"
    );
    let stderr = refused(&["--feed", "replay:/nonexistent/journal"], &[]);
    assert!(stderr.contains("/nonexistent/journal"), "{stderr}");
}

#[test]
fn without_onnx_runtime_a_paper_run_warns_that_parity_checks_are_off_and_scores_natively() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let text = std::fs::read_to_string(&profile).unwrap() + "ai_scorer:\n  backend: native\n";
    std::fs::write(&profile, text).unwrap();
    let output = engine()
        .args(["run", "--feed", "sim", "--pace", "fast", "--duration", "30"])
        .args([
            "--onnxruntime",
            "/nonexistent/libonnxruntime.so",
            "--profile",
        ])
        .arg(&profile)
        .env_remove("EXCHANGE_MODE")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: cannot load ONNX Runtime from /nonexistent/libonnxruntime.so: no such file \
             (scripts/setup.sh installs it); parity checks are off\n"
        ),
        "{stderr}"
    );
    assert!(
        stdout.contains("model: active synthetic-42 (native)"),
        "{stdout}"
    );
    assert!(stdout.contains("== summary (duration reached"), "{stdout}");
}

/// A host tree (what `/sys` shows) with CPUs 0 and 1 online and `isolated` isolated, for
/// `ENGINE_HOST_ROOT`.
fn host_tree(dir: &Path, isolated: &str) -> PathBuf {
    let cpu = dir.join("sys/devices/system/cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    std::fs::write(cpu.join("online"), "0-1\n").unwrap();
    std::fs::write(cpu.join("isolated"), format!("{isolated}\n")).unwrap();
    dir.to_path_buf()
}

#[test]
fn a_configuration_that_requires_isolation_refuses_a_shared_hot_core_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let text = std::fs::read_to_string(&profile).unwrap().replace(
        "engine:\n  busy_poll: false\n",
        "engine:\n  busy_poll: false\n  require_isolated_hot_core: true\n",
    );
    std::fs::write(&profile, text).unwrap();
    let shared = host_tree(&dir.path().join("shared"), "");
    let shared_env = [("ENGINE_HOST_ROOT", shared.to_str().unwrap())];
    let run = ["--feed", "sim", "--pace", "fast", "--duration", "5"];
    let stderr = refused_with(&profile, &run, &shared_env);
    assert_eq!(
        stderr,
        "error: engine.require_isolated_hot_core: hot core isolated: none \
         (/sys/devices/system/cpu/isolated), expected includes 1; boot with \
         isolcpus=nohz,domain,managed_irq,1 (profiles/bare-metal.yml), or start with \
         --allow-shared-core (engine doctor checks the rest of the host)\n"
    );
    let started = |host: &Path, extra: &[&str]| -> String {
        let output = engine()
            .arg("run")
            .args(run)
            .args(extra)
            .arg("--profile")
            .arg(&profile)
            .env("ENGINE_HOST_ROOT", host)
            .env_remove("EXCHANGE_MODE")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // Allowed: it runs, and says what it runs on.
    let stdout = started(&shared, &["--allow-shared-core"]);
    assert!(
        stdout.contains(
            "cpu: hot thread on core 1, cold threads on cores [0]\n\
             host: FAIL hot core isolated: none (/sys/devices/system/cpu/isolated) (expected \
             includes 1); boot with isolcpus=nohz,domain,managed_irq,1 (profiles/bare-metal.yml)\n"
        ),
        "{stdout}"
    );
    // An isolated hot core: nothing to say.
    let isolated = host_tree(&dir.path().join("isolated"), "1");
    let stdout = started(&isolated, &[]);
    assert!(stdout.contains("engine run: mode paper"), "{stdout}");
    assert!(!stdout.contains("host:"), "{stdout}");

    // engine doctor says the same, and exits 1 where engine run would refuse.
    let doctor = |host: &Path| {
        engine()
            .args(["doctor", "--json", "--profile"])
            .arg(&profile)
            .env("ENGINE_HOST_ROOT", host)
            .output()
            .unwrap()
    };
    let output = doctor(&shared);
    assert_eq!(output.status.code(), Some(1));
    let checks: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (&checks[1]["name"], &checks[1]["status"]),
        (&"hot core isolated".into(), &"fail".into())
    );
    assert_eq!(checks.as_array().unwrap().len(), 9);
    assert_eq!(doctor(&isolated).status.code(), Some(0));
}
