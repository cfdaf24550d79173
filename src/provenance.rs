//! `provenance.intoto.json`: an in-toto Statement v1 whose predicate is SLSA Provenance v1,
//! naming every exported file as a subject (see `docs/provenance.md`).
//!
//! Unlike `manifest.json`, the statement carries wall-clock times and an invocation id, so it
//! differs between runs; its subjects are the same bytes every time.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::elf::GlibcVersion;
use crate::nix::FlakeMetadata;
use crate::policy;

/// The statement's file name in `dist/`.
pub const STATEMENT_FILE: &str = "provenance.intoto.json";
/// The signed envelope's file name in `dist/` (one DSSE envelope on one line).
pub const ENVELOPE_FILE: &str = "provenance.intoto.jsonl";
/// in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA Provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// kiln's build type: a Nix flake built with one `nix build`, verified and exported by kiln.
pub const BUILD_TYPE: &str = "https://kiln.dev/buildtypes/nix-flake/v1";
/// `builder.id` outside a recognised CI.
pub const LOCAL_BUILDER: &str = "https://kiln.dev/builders/local/v1";

/// The only environment variables kiln records (values of the others never reach the statement).
pub const CI_ALLOWLIST: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_SHA",
    "RUNNER_ENVIRONMENT",
    "GITLAB_CI",
    "CI_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_PIPELINE_ID",
    "CI_JOB_ID",
    "CI_JOB_URL",
    "CI_RUNNER_ID",
    "CI_COMMIT_SHA",
];

/// One built target, as the provenance sees it.
#[derive(Debug, Clone)]
pub struct BuiltOutput {
    /// Triple.
    pub target: String,
    /// `packages.<system>.<attr>`.
    pub attribute: String,
    /// Output store path.
    pub store_path: String,
    /// Derivation.
    pub drv_path: String,
    /// The verification verdicts of its binaries (JSON).
    pub verification: Value,
}

/// The build's flags as the statement records them (`externalParameters.flags`): written by
/// `kiln build`, read back by `kiln verify-release` to check every binary again with the
/// policy it was built with. The same type on both sides; when read, an unknown key, a missing
/// one (but `allowDebug`, absent from statements written before `--allow-debug`, whose absence
/// is the stricter `false`) or a value of the wrong type is refused, so a flag renamed or added
/// on one side cannot make the reader fall back to a weaker policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flags {
    /// `--archive`.
    pub archive: String,
    /// `--check-reproducible`.
    pub check_reproducible: bool,
    /// `--keep-going`.
    pub keep_going: bool,
    /// `--smoke` arguments (`null` without a smoke run).
    #[serde(deserialize_with = "present")]
    pub smoke: Option<Vec<String>>,
    /// `--system` (`null`: nix's own).
    #[serde(deserialize_with = "present")]
    pub system: Option<String>,
    /// `--glibc-max` (`null`: the target's floor).
    #[serde(deserialize_with = "present")]
    pub glibc_max: Option<String>,
    /// `--allow-needed`.
    pub allow_needed: Vec<String>,
    /// `--require-stripped`.
    pub require_stripped: bool,
    /// `--strict`.
    pub strict: bool,
    /// `--allow-debug`.
    #[serde(default)]
    pub allow_debug: bool,
}

/// An `Option` whose key must be present (`null` for `None`): serde's default for a missing
/// `Option` field is `None`, which for `glibcMax` would lift the glibc cap.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::deserialize(d)
}

impl Flags {
    /// The policy fields of `opts`, the others empty: fill them in with struct update syntax.
    pub fn of_policy(opts: &policy::Options) -> Flags {
        Flags {
            glibc_max: opts.glibc_max.as_ref().map(ToString::to_string),
            allow_needed: opts.allow_needed.clone(),
            require_stripped: opts.require_stripped,
            strict: opts.strict,
            allow_debug: opts.allow_debug,
            ..Flags::default()
        }
    }

    /// The policy the build checked its binaries with; the inverse of [`Flags::of_policy`].
    pub fn policy(&self) -> Result<policy::Options, String> {
        let glibc_max = match &self.glibc_max {
            None => None,
            Some(v) => {
                Some(GlibcVersion::parse(v).ok_or_else(|| format!("glibcMax {v:?} is not a glibc version"))?)
            }
        };
        Ok(policy::Options {
            glibc_max,
            allow_needed: self.allow_needed.clone(),
            require_stripped: self.require_stripped,
            strict: self.strict,
            allow_debug: self.allow_debug,
        })
    }
}

/// Everything the statement records.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Files of the release and their SHA-256.
    pub subjects: &'a [(String, String)],
    /// The flake reference as given.
    pub flake: &'a str,
    /// Flake metadata (source and lock graph).
    pub metadata: &'a FlakeMetadata,
    /// Targets built and exported.
    pub outputs: &'a [BuiltOutput],
    /// Flags of the build.
    pub flags: Flags,
    /// `nix --version`.
    pub nix_version: &'a str,
    /// Nix system.
    pub system: &'a str,
    /// Nix's `sandbox` setting.
    pub sandbox: Option<&'a str>,
    /// The allowlisted CI environment.
    pub env: BTreeMap<String, String>,
    /// When the run started.
    pub started: SystemTime,
    /// When the export finished.
    pub finished: SystemTime,
    /// A unique id for this run.
    pub invocation_id: String,
}

/// The allowlisted variables that are set and non-empty.
pub fn ci_env() -> BTreeMap<String, String> {
    CI_ALLOWLIST
        .iter()
        .filter_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| ((*k).to_owned(), v))
        })
        .collect()
}

/// `builder.id` and, when known, the CI run's URL, from the allowlisted environment.
pub fn builder_and_run(env: &BTreeMap<String, String>) -> (String, Option<String>) {
    let get = |k: &str| env.get(k).map(String::as_str);
    if get("GITHUB_ACTIONS") == Some("true")
        && let (Some(server), Some(repo)) = (get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY"))
    {
        let id = match get("GITHUB_WORKFLOW_REF") {
            Some(w) => format!("{server}/{w}"),
            None => format!("{server}/{repo}/actions"),
        };
        let run = get("GITHUB_RUN_ID").map(|r| {
            format!(
                "{server}/{repo}/actions/runs/{r}/attempts/{}",
                get("GITHUB_RUN_ATTEMPT").unwrap_or("1")
            )
        });
        return (id, run);
    }
    if get("GITLAB_CI") == Some("true")
        && let (Some(server), Some(project)) = (get("CI_SERVER_URL"), get("CI_PROJECT_PATH"))
    {
        let id = match get("CI_RUNNER_ID") {
            Some(r) => format!("{server}/{project}/-/runners/{r}"),
            None => format!("{server}/{project}/-/jobs"),
        };
        return (id, get("CI_JOB_URL").map(str::to_owned));
    }
    (LOCAL_BUILDER.to_owned(), None)
}

/// A random `urn:uuid:` (version 4) from `/dev/urandom`.
pub fn random_invocation_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    invocation_id(b)
}

/// The `urn:uuid:` of a version-4 UUID made of `random` (version and variant bits set).
fn invocation_id(random: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(random)
        .into_uuid()
        .urn()
        .to_string()
}

/// RFC 3339 UTC with second precision (`1970-01-01T00:00:00Z`), from seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    let c = crate::civil::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// [`rfc3339`] of a system time (before 1970 counts as 1970).
pub fn rfc3339_time(t: SystemTime) -> String {
    rfc3339(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    )
}

/// Hex of the digest in an SRI hash such as `sha256-<base64>`.
fn sri_hex(sri: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (alg, b64) = sri.split_once('-')?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((alg.to_owned(), hex::encode(bytes)))
}

/// The digest set of a Nix source: its git commit, else its NAR hash (as `nixNarSha256`).
fn nix_digest(rev: Option<&str>, nar_hash: Option<&str>) -> Value {
    let mut d = serde_json::Map::new();
    if let Some(r) = rev {
        d.insert("gitCommit".into(), json!(r));
    }
    if let Some((alg, hex)) = nar_hash.and_then(sri_hex)
        && alg == "sha256"
    {
        d.insert("nixNarSha256".into(), json!(hex));
    }
    Value::Object(d)
}

/// A URI for a locked flake input (`git+https://github.com/o/r@rev`, `git+URL@rev`, …).
pub fn locked_uri(locked: &Value) -> String {
    let s = |k: &str| locked.get(k).and_then(Value::as_str);
    let rev = s("rev");
    let at = rev.map(|r| format!("@{r}")).unwrap_or_default();
    match s("type").unwrap_or("") {
        "github" => format!(
            "git+https://{}/{}/{}{at}",
            s("host").unwrap_or("github.com"),
            s("owner").unwrap_or(""),
            s("repo").unwrap_or("")
        ),
        "gitlab" => format!(
            "git+https://{}/{}/{}{at}",
            s("host").unwrap_or("gitlab.com"),
            s("owner").unwrap_or(""),
            s("repo").unwrap_or("")
        ),
        "sourcehut" => format!(
            "git+https://{}/{}/{}{at}",
            s("host").unwrap_or("git.sr.ht"),
            s("owner").unwrap_or(""),
            s("repo").unwrap_or("")
        ),
        "git" | "mercurial" => {
            let url = s("url").unwrap_or("");
            let scheme = if s("type") == Some("git") { "git+" } else { "hg+" };
            if url.starts_with(scheme) {
                format!("{url}{at}")
            } else {
                format!("{scheme}{url}{at}")
            }
        }
        "path" => format!("path:{}", s("path").unwrap_or("")),
        "tarball" | "file" => s("url").unwrap_or("").to_owned(),
        other => format!("{other}:{}{at}", s("url").or(s("path")).unwrap_or("")),
    }
}

/// Whether a flake reference or locked URL names a place on this machine: `path:`, `file:`,
/// any `…+file:` scheme (`git+file:`, `hg+file:`, `tarball+file:`), or a bare path.
pub fn is_local_url(url: &str) -> bool {
    if url.starts_with('/') || url.starts_with('.') || url.starts_with('~') {
        return true;
    }
    match url.split_once(':') {
        Some((scheme, _)) => scheme == "path" || scheme == "file" || scheme.ends_with("+file"),
        None => false,
    }
}

/// The location-free form of a local flake: its scheme and `.` (the checkout's root), plus
/// `?dir=<dir>` when the flake sits in a subdirectory: `git+file:.`, `path:.?dir=sub`. The
/// source itself is then named by its digests (revision, NAR hash), not by where it was.
pub fn location_free(url: &str, locked: &Value) -> String {
    let scheme = match locked.get("type").and_then(Value::as_str) {
        Some("git") => "git+file",
        Some("mercurial") => "hg+file",
        Some("path") => "path",
        _ => url
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .unwrap_or("path"),
    };
    let mut out = format!("{scheme}:.");
    if let Some(dir) = locked
        .get("dir")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        out.push_str("?dir=");
        out.push_str(dir);
    }
    out
}

/// How a release names its flake: `(flake, locked URL)`. A remote flake keeps the reference
/// as given and the locked URL Nix resolved it to; a local one (a checkout, wherever it is)
/// gets its [`location_free`] form and no locked URL, so the same commit built from two paths
/// records the same bytes.
pub fn source_identity(given: &str, m: &FlakeMetadata) -> (String, Option<String>) {
    let local = m.url.as_deref().map_or_else(|| is_local_url(given), is_local_url);
    if local {
        let url = m.url.as_deref().unwrap_or(given);
        (location_free(url, &m.locked), None)
    } else {
        (given.to_owned(), m.url.clone())
    }
}

/// Every node of the flake.lock graph except the root, as resource descriptors.
fn lock_dependencies(locks: &Value) -> Vec<Value> {
    let root = locks.get("root").and_then(Value::as_str).unwrap_or("root");
    let Some(nodes) = locks.get("nodes").and_then(Value::as_object) else {
        return Vec::new();
    };
    nodes
        .iter()
        .filter(|(name, _)| name.as_str() != root)
        .filter_map(|(name, node)| {
            let locked = node.get("locked")?;
            let s = |k: &str| locked.get(k).and_then(Value::as_str);
            let mut annotations = serde_json::Map::new();
            if let Some(h) = s("narHash") {
                annotations.insert("narHash".into(), json!(h));
            }
            if let Some(t) = locked.get("lastModified") {
                annotations.insert("lastModified".into(), t.clone());
            }
            annotations.insert("flakeLockNode".into(), json!(name));
            Some(json!({
                "name": format!("flake.lock:{name}"),
                "uri": locked_uri(locked),
                "digest": nix_digest(s("rev"), s("narHash")),
                "annotations": annotations,
            }))
        })
        .collect()
}

/// The statement as a JSON value.
pub fn statement(i: &Inputs<'_>) -> Value {
    let subject = subject_list(i.subjects);
    let m = i.metadata;
    let mut source_annotations = serde_json::Map::new();
    if let Some(h) = m.nar_hash() {
        source_annotations.insert("narHash".into(), json!(h));
    }
    if let Some(t) = m.last_modified {
        source_annotations.insert("lastModified".into(), json!(t));
    }
    let (flake, locked_url) = source_identity(i.flake, m);
    let mut deps = vec![json!({
        "name": "source",
        "uri": locked_url.unwrap_or_else(|| flake.clone()),
        "digest": nix_digest(m.revision.as_deref(), m.nar_hash()),
        "annotations": source_annotations,
    })];
    deps.extend(lock_dependencies(&m.locks));
    for o in i.outputs {
        deps.push(json!({
            "name": format!("derivation:{}", o.attribute),
            "uri": o.drv_path,
            "annotations": {"outPath": o.store_path, "target": o.target},
        }));
    }
    let (builder, run_url) = builder_and_run(&i.env);
    let byproducts: Vec<Value> = i
        .outputs
        .iter()
        .map(|o| {
            use base64::Engine;
            let report = serde_json::to_vec(&o.verification).unwrap_or_default();
            json!({
                "name": format!("verification/{}.json", o.target),
                "mediaType": "application/json",
                "digest": {"sha256": crate::checksum::sha256_bytes(&report)},
                "content": base64::engine::general_purpose::STANDARD.encode(&report),
            })
        })
        .collect();
    let mut internal = json!({
        "nixVersion": i.nix_version,
        "system": i.system,
        "sandbox": i.sandbox,
    });
    if !i.env.is_empty() {
        internal["ci"] = json!(i.env);
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "flake": flake,
                    "targets": i.outputs.iter().map(|o| o.target.as_str()).collect::<Vec<_>>(),
                    "attributes": i.outputs.iter().map(|o| o.attribute.as_str()).collect::<Vec<_>>(),
                    "flags": i.flags,
                },
                "internalParameters": internal,
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder, "version": {"kiln": env!("CARGO_PKG_VERSION")}},
                "metadata": {
                    "invocationId": run_url.unwrap_or_else(|| i.invocation_id.clone()),
                    "startedOn": rfc3339_time(i.started),
                    "finishedOn": rfc3339_time(i.finished),
                },
                "byproducts": byproducts,
            },
        },
    })
}

/// The `subject` list for `sums` (`name`, `sha256`), sorted by name.
fn subject_list(sums: &[(String, String)]) -> Vec<Value> {
    let mut subjects: Vec<&(String, String)> = sums.iter().collect();
    subjects.sort();
    subjects
        .iter()
        .map(|(name, sha)| json!({"name": name, "digest": {"sha256": sha}}))
        .collect()
}

/// An existing statement with its subjects replaced by `sums` and `finishedOn` moved to `now`:
/// what `kiln image` writes when it adds files to a release it did not build. Everything that
/// describes the build itself stays as recorded.
pub fn restate(statement: &Value, sums: &[(String, String)], now: SystemTime) -> Result<Vec<u8>, String> {
    subjects_of(statement)?;
    let mut v = statement.clone();
    v["subject"] = Value::Array(subject_list(sums));
    if let Some(meta) = v
        .get_mut("predicate")
        .and_then(|p| p.get_mut("runDetails"))
        .and_then(|r| r.get_mut("metadata"))
        .and_then(Value::as_object_mut)
    {
        meta.insert("finishedOn".into(), json!(rfc3339_time(now)));
    }
    let mut out = serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// The statement file's bytes: pretty JSON and a final newline.
pub fn statement_bytes(i: &Inputs<'_>) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(&statement(i)).unwrap_or_default();
    v.push(b'\n');
    v
}

/// `name -> sha256` of a statement's subjects; `Err` says what is malformed.
pub fn subjects_of(statement: &Value) -> Result<BTreeMap<String, String>, String> {
    if statement.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
        return Err(format!("_type is not {STATEMENT_TYPE}"));
    }
    if statement.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE) {
        return Err(format!("predicateType is not {PREDICATE_TYPE}"));
    }
    let list = statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or("no subject list")?;
    let mut out = BTreeMap::new();
    for s in list {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a subject without a name")?;
        let sha = s
            .get("digest")
            .and_then(|d| d.get("sha256"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("subject {name} has no sha256 digest"))?;
        if out.insert(name.to_owned(), sha.to_ascii_lowercase()).is_some() {
            return Err(format!("subject {name} is listed twice"));
        }
    }
    Ok(out)
}

/// The build's [`Flags`] a statement records; `Err` says what is missing or malformed.
pub fn flags_of(statement: &Value) -> Result<Flags, String> {
    let flags = statement
        .pointer("/predicate/buildDefinition/externalParameters/flags")
        .ok_or("no externalParameters.flags")?;
    let flags = Flags::deserialize(flags).map_err(|e| format!("externalParameters.flags: {e}"))?;
    flags
        .policy()
        .map_err(|e| format!("externalParameters.flags: {e}"))?;
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_ids_are_version_4_urns() {
        assert_eq!(
            invocation_id([0xff; 16]),
            "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            invocation_id([0; 16]),
            "urn:uuid:00000000-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn flags_read_back_are_the_flags_written_and_nothing_weaker() {
        let opts = policy::Options {
            glibc_max: GlibcVersion::parse("2.28"),
            allow_needed: vec!["libssl".into()],
            require_stripped: true,
            strict: true,
            allow_debug: false,
        };
        let written = Flags {
            archive: "tar.zst".into(),
            smoke: Some(vec!["--version".into()]),
            ..Flags::of_policy(&opts)
        };
        let statement = |flags: Value| json!({"predicate": {"buildDefinition": {"externalParameters": {"flags": flags}}}});
        let value = serde_json::to_value(&written).unwrap();
        assert_eq!(value["glibcMax"], "2.28", "{value:#}");
        let read = flags_of(&statement(value.clone())).unwrap();
        assert_eq!(read, written);
        let back = read.policy().unwrap();
        assert_eq!(back.glibc_max.map(|v| v.to_string()).as_deref(), Some("2.28"));
        assert!(back.require_stripped && back.strict && !back.allow_debug);
        assert_eq!(back.allow_needed, ["libssl"]);
        // A key renamed, dropped or of the wrong type is refused, never read as its default.
        for (key, edit) in [
            ("glibcMax", None),
            ("strict", None),
            ("strict", Some(json!("yes"))),
            ("glibcMax", Some(json!("two"))),
        ] {
            let mut v = value.clone();
            match edit {
                None => drop(v.as_object_mut().unwrap().remove(key)),
                Some(x) => v[key] = x,
            }
            assert!(flags_of(&statement(v)).is_err(), "{key}");
        }
        let mut renamed = value.clone();
        let strict = renamed.as_object_mut().unwrap().remove("strict").unwrap();
        renamed["strictMode"] = strict;
        let err = flags_of(&statement(renamed)).unwrap_err();
        assert!(err.contains("strictMode"), "{err}");
        // Statements from before --allow-debug read it as the stricter false.
        let mut old = value;
        old.as_object_mut().unwrap().remove("allowDebug");
        assert!(!flags_of(&statement(old)).unwrap().allow_debug);
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(315_532_800), "1980-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339(1_795_651_199), "2026-11-25T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn builder_id_comes_from_the_allowlist_only() {
        let mut env = BTreeMap::new();
        assert_eq!(builder_and_run(&env).0, LOCAL_BUILDER);
        for (k, v) in [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        let (id, run) = builder_and_run(&env);
        assert_eq!(id, "https://github.com/o/r/actions");
        assert_eq!(
            run.as_deref(),
            Some("https://github.com/o/r/actions/runs/42/attempts/1")
        );
        assert!(
            CI_ALLOWLIST
                .iter()
                .all(|k| !k.contains("TOKEN") && !k.contains("SECRET"))
        );
    }

    #[test]
    fn local_flakes_are_named_without_their_location() {
        for local in [
            ".",
            "./sub",
            "/src/app",
            "path:/src/app",
            "git+file:///src/app?ref=main",
            "file:///src/app.tar.gz",
            "tarball+file:///a.tgz",
        ] {
            assert!(is_local_url(local), "{local}");
        }
        for remote in [
            "github:o/r",
            "git+https://example.org/r",
            "https://example.org/a.tgz",
            "nixpkgs",
        ] {
            assert!(!is_local_url(remote), "{remote}");
        }
        let git = json!({"type": "git", "url": "file:///src/app", "dir": "sub", "rev": "abc"});
        assert_eq!(
            location_free("git+file:///src/app?dir=sub", &git),
            "git+file:.?dir=sub"
        );
        assert_eq!(location_free("path:/src/app", &json!({"type": "path"})), "path:.");
    }

    #[test]
    fn lock_nodes_become_dependencies() {
        let locks = json!({"root": "root", "version": 7, "nodes": {
            "root": {"inputs": {"nixpkgs": "nixpkgs"}},
            "nixpkgs": {"locked": {"type": "github", "owner": "NixOS", "repo": "nixpkgs",
                "rev": "abc123", "narHash": "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "lastModified": 1_700_000_000}}}});
        let d = lock_dependencies(&locks);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["uri"], "git+https://github.com/NixOS/nixpkgs@abc123");
        assert_eq!(d[0]["digest"]["gitCommit"], "abc123");
        assert_eq!(d[0]["digest"]["nixNarSha256"], "0".repeat(64));
        assert_eq!(d[0]["annotations"]["lastModified"], 1_700_000_000);
    }
}
