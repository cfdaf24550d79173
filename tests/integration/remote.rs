//! Remote builds pass through `kiln build --builders/--max-jobs` (issue 8), proven on loopback:
//! the test starts its own `sshd` on 127.0.0.1 and a free port, with host and user keys it
//! generates, and forces the build remote with `--max-jobs 0`. The builder is this machine's
//! Nix 2.8 over `ssh://` with a store of its own (`remote-store=local?root=DIR`): a builder
//! sharing the local store would wait forever for the output locks the local Nix holds.
//!
//! Always Debian's Nix 2.8 (the 2.26 wrappers of scripts/setup turn the build hook off).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Output, repo};
use crate::nixenv::{Fixture, nix_config};

/// sshd started by the test; ended on drop, also when the test panics.
struct Sshd {
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[track_caller]
fn tool(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is required for this test and is missing: run scripts/setup (openssh-server)"
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(file: &Path) {
    Output::of(
        Command::new(tool("/usr/bin/ssh-keygen"))
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(file),
    )
    .success();
}

/// Starts sshd in `dir` on a free port; returns the guard, the port and the user key.
fn start_sshd(dir: &Path) -> (Sshd, u16, PathBuf) {
    let sshd = tool("/usr/sbin/sshd");
    let (host, user) = (dir.join("host_key"), dir.join("user_key"));
    keygen(&host);
    keygen(&user);
    fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
    // The builder's Nix reads this instead of /etc/nix (build as root, sandbox on).
    let conf = dir.join("nix-conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("nix.conf"), nix_config()).unwrap();
    fs::create_dir_all("/run/sshd").unwrap();
    let port = free_port();
    let config = dir.join("sshd_config");
    fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
             UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nAuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\nSetEnv NIX_CONF_DIR={conf}\nLogLevel VERBOSE\n",
            host = host.display(),
            dir = dir.display(),
            conf = conf.display(),
        ),
    )
    .unwrap();
    let log = fs::File::create(dir.join("sshd.log")).unwrap();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("sshd starts");
    let guard = Sshd { child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not listen on {port}:\n{}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, port, user)
}

// issue 8: a build forced remote over ssh succeeds, is built on the builder, and is exported.
#[test]
fn issue8_remote_build_over_loopback_ssh_is_exported() {
    tool("/usr/bin/ssh");
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("remote{tag}");
    let flake = format!(
        "{{ outputs = {{ self }}: {{ packages.x86_64-linux = import ./nix/hermetic.nix {{\n  \
         name = \"{name}\"; version = \"1.0.0\"; src = ./main.c; targets = [ \"x86_64-musl\" ];\n}}; }}; }}\n"
    );
    let main_c = fs::read_to_string(repo().join("tests/fixtures/flakes/ok/main.c")).unwrap();
    let fx = Fixture::inline(&flake, &[("main.c", &main_c)]);
    let ssh_dir = fx.dir().join("ssh");
    fs::create_dir_all(&ssh_dir).unwrap();
    let (_sshd, port, key) = start_sshd(&ssh_dir);
    let remote_root = fx.dir().join("builder-store");
    let builder = format!(
        "ssh://root@127.0.0.1?remote-store=local%3Froot%3D{} x86_64-linux",
        remote_root.display()
    );
    let sshopts = format!(
        "-p {port} -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes",
        key.display()
    );
    let run = fx
        .build(&[
            "-t",
            "x86_64-musl",
            "--builders",
            &builder,
            "--max-jobs",
            "0",
            "-v",
        ])
        // Debian's Nix 2.8: its build hook does remote builds (see the module docs).
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NIX_SSHOPTS", &sshopts)
        .success();

    assert!(
        run.stderr.contains(" on 'ssh://root@127.0.0.1"),
        "nix built on the ssh builder:\n{}",
        run.stderr
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/manifest.json")).unwrap()).unwrap();
    let out = manifest["artifacts"][0]["store_path"].as_str().unwrap();
    assert!(out.contains(&name), "{out}");
    assert!(
        remote_root
            .join(out.trim_start_matches('/'))
            .join(format!("bin/{name}"))
            .is_file(),
        "the output was built in the builder's store"
    );
    let log = fs::read_to_string(ssh_dir.join("sshd.log")).unwrap();
    assert!(log.contains("Accepted publickey for root"), "{log}");
    assert!(
        fx.dir()
            .join(format!("dist/{name}-1.0.0-x86_64-unknown-linux-musl.tar.gz"))
            .is_file()
    );
}
