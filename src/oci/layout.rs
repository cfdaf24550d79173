//! OCI images, built in memory and byte-reproducible: blobs, config, manifest, index, the image
//! layout directory and the `oci-archive` tar.
//!
//! One image per target, from scratch or on the platform's image of a `--base` layout (whose
//! layers come first). kiln's single layer is an uncompressed ustar
//! (`application/vnd.oci.image.layer.v1.tar`, written by [`crate::archive::ustar_bytes`]:
//! sorted members, mtime `SOURCE_DATE_EPOCH`, uid/gid 0, modes 0755/0644) holding:
//!
//! - `usr/local/bin/<binary>` for every binary of the target (the entrypoint is the one named
//!   like the release, else the first by name);
//! - `etc/passwd` and `etc/group` with `root` and the non-root user `nonroot` (65532:65532);
//! - optionally `etc/ssl/certs/ca-certificates.crt` and `usr/share/zoneinfo/…`.
//!
//! The config runs as `65532:65532`, carries the `org.opencontainers.image.*` labels and has
//! `created` = `SOURCE_DATE_EPOCH` in RFC 3339. JSON is serialised compactly with a fixed key
//! order, so the same inputs give the same digests. The image index lists one manifest per
//! platform; the layout's `index.json` names the index with the tag `<version>` and each
//! manifest with `<version>-<oci_arch>` (single-platform tools such as umoci take those).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::archive::{self, Member};
use crate::checksum;
use crate::target::Target;

/// Media type of the OCI image index.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed layer.
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Where the binaries go inside the image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The non-root user and group id the image runs as.
pub const NONROOT_ID: u32 = 65532;
/// The non-root user's name.
pub const NONROOT_NAME: &str = "nonroot";
/// Where `--ca-certs` is put.
pub const CA_CERTS_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// Where `--tzdata` is put.
pub const ZONEINFO_DIR: &str = "usr/share/zoneinfo";
/// The annotation naming a manifest inside an image layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The platform, in an index.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`.
    pub architecture: String,
    /// Always `linux`.
    pub os: String,
}

/// What goes into every image besides the binaries.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// Release name (the preferred entrypoint).
    pub name: String,
    /// Release version (the tag).
    pub version: String,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: u64,
    /// `org.opencontainers.image.source`.
    pub source: Option<String>,
    /// `org.opencontainers.image.revision`.
    pub revision: Option<String>,
    /// A CA bundle to put at `/etc/ssl/certs/ca-certificates.crt`.
    pub ca_certs: Option<PathBuf>,
    /// A zoneinfo directory to put at `/usr/share/zoneinfo`.
    pub tzdata: Option<PathBuf>,
}

/// One target's binaries, already verified (right machine; static unless built on a `--base`),
/// as `(name, bytes)`.
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// The target.
    pub target: &'static Target,
    /// Binaries by file name.
    pub binaries: Vec<(String, Vec<u8>)>,
    /// The image to build on (`--base`), for this platform; `None`: from scratch.
    pub base: Option<BaseImage>,
}

/// A base image of one platform, read from an OCI layout (`--base`).
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// Its config.
    pub config: serde_json::Value,
    /// Its layers, bottom first, with their bytes.
    pub layers: Vec<(Descriptor, Vec<u8>)>,
}

/// The image of one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformImage {
    /// Target triple.
    pub target: String,
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    /// The tag naming this manifest in the layout (`<version>-<arch>`).
    pub tag: String,
    /// Manifest digest.
    pub manifest: String,
    /// Config digest.
    pub config: String,
    /// Layer digests, bottom first.
    pub layers: Vec<String>,
    /// Entrypoint.
    pub entrypoint: String,
}

/// A whole multi-platform image, in memory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Every blob by digest (`sha256:<hex>`).
    pub blobs: BTreeMap<String, (String, Vec<u8>)>,
    /// The image index's descriptor.
    pub index: Descriptor,
    /// Per platform, in target order.
    pub platforms: Vec<PlatformImage>,
    /// The tag of the index (`<version>`, or `latest`).
    pub tag: String,
    /// The bytes of `index.json`.
    pub index_json: Vec<u8>,
    /// `SOURCE_DATE_EPOCH`, for the tar.
    pub epoch: u64,
}

/// The `images` section of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSet {
    /// The image layout directory in `dist/`.
    pub layout: String,
    /// The `oci-archive` tar in `dist/`.
    pub archive: String,
    /// SHA-256 of the tar.
    pub archive_sha256: String,
    /// Size of the tar.
    pub archive_size: u64,
    /// Digest of the image index.
    pub index: String,
    /// The index's tag in the layout.
    pub tag: String,
    /// One per platform.
    pub platforms: Vec<PlatformImage>,
}

impl ImageSet {
    /// Every image file and blob with its SHA-256 hex, as `(path in dist/, sha256)`: the
    /// `oci-archive`, then the layout's blobs (index, manifests, configs, layers). For
    /// provenance subjects.
    pub fn subjects(&self) -> Vec<(String, String)> {
        let hex = |d: &str| d.trim_start_matches("sha256:").to_owned();
        let blob = |d: &str| (format!("{}/blobs/sha256/{}", self.layout, hex(d)), hex(d));
        let mut v = vec![
            (self.archive.clone(), self.archive_sha256.clone()),
            blob(&self.index),
        ];
        for p in &self.platforms {
            v.push(blob(&p.manifest));
            v.push(blob(&p.config));
            v.extend(p.layers.iter().map(|l| blob(l)));
        }
        v.dedup();
        v
    }
}

/// RFC 3339 UTC time of a Unix timestamp, e.g. `2024-01-02T03:04:05Z`.
pub fn rfc3339(epoch: u64) -> String {
    crate::provenance::rfc3339(i64::try_from(epoch).unwrap_or(i64::MAX))
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", checksum::sha256_bytes(bytes))
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("image JSON serialises")
}

fn passwd() -> String {
    format!(
        "root:x:0:0:root:/root:/sbin/nologin\n\
         {NONROOT_NAME}:x:{NONROOT_ID}:{NONROOT_ID}:{NONROOT_NAME}:/home/{NONROOT_NAME}:/sbin/nologin\n"
    )
}

fn group() -> String {
    format!("root:x:0:\n{NONROOT_NAME}:x:{NONROOT_ID}:\n")
}

/// Files of a zoneinfo directory as layer entries (symlinked files are stored as copies;
/// symlinked directories are skipped, so `posix -> .` loops cannot happen).
fn zoneinfo_entries(root: &Path, rel: &str, out: &mut Vec<Member>) -> Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("--tzdata: reading {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("--tzdata: reading {}", dir.display()))?;
    names.sort_by_key(fs::DirEntry::file_name);
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = e.path();
        let link = fs::symlink_metadata(&path)?.file_type().is_symlink();
        let meta = fs::metadata(&path).with_context(|| format!("--tzdata: {}", path.display()))?;
        if meta.is_dir() {
            if !link {
                zoneinfo_entries(root, &child, out)?;
            }
        } else if meta.is_file() {
            let bytes = fs::read(&path).with_context(|| format!("--tzdata: {}", path.display()))?;
            out.push(Member::bytes(format!("{ZONEINFO_DIR}/{child}"), bytes, 0o644));
        }
    }
    Ok(())
}

/// The layer entries common to every platform: CA bundle, zoneinfo (passwd and group are
/// added for images without a base).
fn common_entries(opts: &ImageOptions) -> Result<Vec<Member>> {
    let mut entries = Vec::new();
    if let Some(ca) = &opts.ca_certs {
        let bytes = fs::read(ca).with_context(|| format!("--ca-certs {}", ca.display()))?;
        entries.push(Member::bytes(CA_CERTS_PATH, bytes, 0o644));
    }
    if let Some(tz) = &opts.tzdata {
        if !tz.is_dir() {
            bail!("--tzdata {}: not a directory", tz.display());
        }
        zoneinfo_entries(tz, "", &mut entries)?;
    }
    Ok(entries)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig<'a> {
    user: String,
    env: Vec<String>,
    entrypoint: Vec<String>,
    working_dir: &'a str,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: String,
}

#[derive(Serialize)]
struct ConfigBlob<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'static str,
    config: RunConfig<'a>,
    rootfs: RootFs,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest_of(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: None,
    }
}

/// Layer media types accepted in a base image.
const BASE_LAYER_TYPES: &[&str] = &[
    MEDIA_LAYER,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

/// The config of an image on `base`: the base's config with kiln's entrypoint, user, working
/// directory, labels (added to the base's), `PATH` (kiln's directory first), no `Cmd`; diff_ids
/// and history appended; kiln's `created`.
fn on_base(base: &serde_json::Value, ours: &ConfigBlob<'_>, t: &Target) -> Result<serde_json::Value> {
    use serde_json::{Value, json};
    let mut cfg = base.clone();
    if cfg["architecture"] != json!(t.oci_arch) || cfg["os"] != json!("linux") {
        bail!(
            "--base: the image for {} is {}/{}, not linux/{}",
            t.triple,
            cfg["os"],
            cfg["architecture"],
            t.oci_arch
        );
    }
    cfg["created"] = json!(ours.created);
    let rc = &ours.config;
    let run = cfg
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("--base: config is not a JSON object"))?
        .entry("config")
        .or_insert_with(|| json!({}));
    if !run.is_object() {
        *run = json!({});
    }
    let base_path = run["Env"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .find_map(|v| v.strip_prefix("PATH="))
        })
        .map(str::to_owned);
    let mut env: Vec<Value> = run["Env"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|v| v.as_str().is_some_and(|v| !v.starts_with("PATH=")))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    env.insert(
        0,
        json!(match base_path {
            Some(p) => format!("PATH={BIN_DIR}:{p}"),
            None => format!("PATH={BIN_DIR}"),
        }),
    );
    env.extend(
        rc.env
            .iter()
            .filter(|e| !e.starts_with("PATH="))
            .map(|e| json!(e)),
    );
    run["Env"] = Value::Array(env);
    run["Entrypoint"] = json!(rc.entrypoint);
    run["User"] = json!(rc.user);
    run["WorkingDir"] = json!(rc.working_dir);
    if let Some(obj) = run.as_object_mut() {
        obj.remove("Cmd");
    }
    let mut labels = run["Labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in rc.labels {
        labels.insert(k.clone(), json!(v));
    }
    run["Labels"] = Value::Object(labels);
    let mut diff_ids = cfg["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    diff_ids.extend(ours.rootfs.diff_ids.iter().map(|d| json!(d)));
    cfg["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let mut history = cfg["history"].as_array().cloned().unwrap_or_default();
    history.extend(
        ours.history
            .iter()
            .map(|h| json!({"created": h.created, "created_by": h.created_by})),
    );
    cfg["history"] = Value::Array(history);
    Ok(cfg)
}

fn read_blob(dir: &Path, d: &Descriptor) -> Result<Vec<u8>> {
    let hex = d
        .digest
        .strip_prefix("sha256:")
        .filter(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| anyhow::anyhow!("--base: unsupported digest `{}`", d.digest))?;
    let path = dir.join("blobs/sha256").join(hex);
    let bytes = fs::read(&path).with_context(|| format!("--base: {}", path.display()))?;
    if bytes.len() as u64 != d.size || checksum::sha256_bytes(&bytes) != hex {
        bail!("--base: blob {} does not match its descriptor", d.digest);
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct IndexIn {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestIn {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

fn collect_manifests(
    dir: &Path,
    ds: &[Descriptor],
    depth: u8,
    out: &mut BTreeMap<String, Descriptor>,
) -> Result<()> {
    for d in ds {
        if d.media_type == MEDIA_INDEX && depth < 4 {
            let idx: IndexIn = serde_json::from_slice(&read_blob(dir, d)?).context("--base: image index")?;
            collect_manifests(dir, &idx.manifests, depth + 1, out)?;
        } else if d.media_type == MEDIA_MANIFEST {
            out.insert(d.digest.clone(), d.clone());
        }
    }
    Ok(())
}

/// Reads every image of the OCI layout `dir` (all manifests reachable from `index.json`), one
/// per OCI architecture; two different images for one architecture are refused.
pub fn read_base(dir: &Path) -> Result<BTreeMap<String, BaseImage>> {
    let top = dir.join("index.json");
    let index: IndexIn = serde_json::from_slice(
        &fs::read(&top).with_context(|| format!("--base {}: not an OCI image layout", dir.display()))?,
    )
    .with_context(|| format!("--base: {}", top.display()))?;
    let mut manifests = BTreeMap::new();
    collect_manifests(dir, &index.manifests, 0, &mut manifests)?;
    let mut out: BTreeMap<String, BaseImage> = BTreeMap::new();
    for d in manifests.values() {
        let m: ManifestIn = serde_json::from_slice(&read_blob(dir, d)?).context("--base: image manifest")?;
        let config: serde_json::Value =
            serde_json::from_slice(&read_blob(dir, &m.config)?).context("--base: image config")?;
        let arch = config["architecture"].as_str().unwrap_or_default().to_owned();
        let mut layers = Vec::new();
        for l in m.layers {
            if !BASE_LAYER_TYPES.contains(&l.media_type.as_str()) {
                bail!(
                    "--base: layer {} has media type {}, not an OCI layer",
                    l.digest,
                    l.media_type
                );
            }
            let bytes = read_blob(dir, &l)?;
            layers.push((l, bytes));
        }
        if out.insert(arch.clone(), BaseImage { config, layers }).is_some() {
            bail!("--base {}: more than one image for {arch}", dir.display());
        }
    }
    Ok(out)
}

type Blobs = BTreeMap<String, (String, Vec<u8>)>;

fn add_blob(blobs: &mut Blobs, media: &str, bytes: Vec<u8>) -> Descriptor {
    let d = descriptor(media, &bytes);
    blobs.insert(d.digest.clone(), (media.to_owned(), bytes));
    d
}

/// What every platform's image shares.
struct Common<'a> {
    opts: &'a ImageOptions,
    created: String,
    labels: BTreeMap<String, String>,
    tag: String,
    files: Vec<Member>,
}

/// One platform's layer, config and manifest; returns its record and manifest descriptor.
fn platform_image(
    input: &ImageInput,
    c: &Common<'_>,
    blobs: &mut Blobs,
) -> Result<(PlatformImage, Descriptor)> {
    let t = input.target;
    let opts = c.opts;
    let mut bins: Vec<&(String, Vec<u8>)> = input.binaries.iter().collect();
    bins.sort_by(|a, b| a.0.cmp(&b.0));
    let Some(main) = bins.iter().find(|b| b.0 == opts.name).or_else(|| bins.first()) else {
        bail!("{}: no binaries to put into an image", t.triple);
    };
    let entrypoint = format!("{BIN_DIR}/{}", main.0);
    let mut entries = c.files.clone();
    if input.base.is_none() {
        entries.push(Member::bytes("etc/passwd", passwd(), 0o644));
        entries.push(Member::bytes("etc/group", group(), 0o644));
    }
    for (name, bytes) in &bins {
        entries.push(Member::bytes(
            format!("{}/{name}", &BIN_DIR[1..]),
            bytes.clone(),
            0o755,
        ));
    }
    let layer = archive::ustar_bytes(&entries, opts.epoch)
        .with_context(|| format!("{}: writing the image layer", t.triple))?;
    let layer_desc = add_blob(blobs, MEDIA_LAYER, layer);
    let mut env = vec![format!("PATH={BIN_DIR}")];
    if opts.ca_certs.is_some() {
        env.push(format!("SSL_CERT_FILE=/{CA_CERTS_PATH}"));
    }
    if opts.tzdata.is_some() {
        env.push(format!("ZONEINFO=/{ZONEINFO_DIR}"));
    }
    let config = ConfigBlob {
        created: &c.created,
        architecture: &t.oci_arch,
        os: "linux",
        config: RunConfig {
            user: format!("{NONROOT_ID}:{NONROOT_ID}"),
            env,
            entrypoint: vec![entrypoint.clone()],
            working_dir: "/",
            labels: &c.labels,
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![layer_desc.digest.clone()],
        },
        history: vec![History {
            created: &c.created,
            created_by: format!("kiln image: {} for {}", opts.name, t.triple),
        }],
    };
    let (config_bytes, mut layers) = match &input.base {
        None => (to_json(&config), Vec::new()),
        Some(base) => {
            let mut layers = Vec::new();
            for (d, bytes) in &base.layers {
                add_blob(blobs, &d.media_type, bytes.clone());
                layers.push(d.clone());
            }
            (to_json(&on_base(&base.config, &config, t)?), layers)
        }
    };
    layers.push(layer_desc.clone());
    let config_desc = add_blob(blobs, MEDIA_CONFIG, config_bytes);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST,
        config: config_desc.clone(),
        layers: layers.clone(),
        annotations: &c.labels,
    };
    let mut manifest_desc = add_blob(blobs, MEDIA_MANIFEST, to_json(&manifest));
    manifest_desc.platform = Some(Platform {
        architecture: t.oci_arch.clone(),
        os: "linux".into(),
    });
    let record = PlatformImage {
        target: t.triple.clone(),
        platform: format!("linux/{}", t.oci_arch),
        tag: format!("{}-{}", c.tag, t.oci_arch),
        manifest: manifest_desc.digest.clone(),
        config: config_desc.digest,
        layers: layers.into_iter().map(|d| d.digest).collect(),
        entrypoint,
    };
    Ok((record, manifest_desc))
}

/// Builds the multi-platform image of `inputs`. Every input must have at least one binary.
pub fn build(inputs: &[ImageInput], opts: &ImageOptions) -> Result<Layout> {
    if inputs.is_empty() {
        bail!("no static (musl) targets to make an image of");
    }
    let created = rfc3339(opts.epoch);
    let mut labels = BTreeMap::new();
    labels.insert("org.opencontainers.image.created".to_owned(), created.clone());
    labels.insert("org.opencontainers.image.title".to_owned(), opts.name.clone());
    if !opts.version.is_empty() {
        labels.insert(
            "org.opencontainers.image.version".to_owned(),
            opts.version.clone(),
        );
    }
    if let Some(s) = &opts.source {
        labels.insert("org.opencontainers.image.source".to_owned(), s.clone());
    }
    if let Some(r) = &opts.revision {
        labels.insert("org.opencontainers.image.revision".to_owned(), r.clone());
    }
    let tag = if opts.version.is_empty() {
        "latest".to_owned()
    } else {
        opts.version.clone()
    };
    let common = Common {
        opts,
        created,
        labels,
        tag,
        files: common_entries(opts)?,
    };
    let mut blobs = Blobs::new();
    let mut platforms = Vec::new();
    let mut index_manifests = Vec::new();
    for input in inputs {
        let (record, desc) = platform_image(input, &common, &mut blobs)?;
        platforms.push(record);
        index_manifests.push(desc);
    }
    let index = Index {
        schema_version: 2,
        media_type: MEDIA_INDEX,
        manifests: index_manifests.clone(),
        annotations: Some(&common.labels),
    };
    let index_desc = add_blob(&mut blobs, MEDIA_INDEX, to_json(&index));
    // index.json: the index under `<tag>`, each manifest under `<tag>-<arch>`.
    let tag = common.tag;
    let mut named = index_desc.clone();
    named.annotations = Some(BTreeMap::from([(REF_NAME.to_owned(), tag.clone())]));
    let mut top = vec![named];
    for (d, p) in index_manifests.iter().zip(&platforms) {
        let mut d = d.clone();
        d.annotations = Some(BTreeMap::from([(REF_NAME.to_owned(), p.tag.clone())]));
        top.push(d);
    }
    let index_json = to_json(&Index {
        schema_version: 2,
        media_type: MEDIA_INDEX,
        manifests: top,
        annotations: None,
    });
    Ok(Layout {
        blobs,
        index: index_desc,
        platforms,
        tag,
        index_json,
        epoch: opts.epoch,
    })
}

/// The `oci-layout` file.
pub const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

impl Layout {
    /// The layout's files as `(relative path, bytes)`, sorted: `blobs/sha256/<hex>`…,
    /// `index.json`, `oci-layout`.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let mut v: Vec<(String, &[u8])> = self
            .blobs
            .iter()
            .map(|(d, (_, b))| {
                (
                    format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
                    b.as_slice(),
                )
            })
            .collect();
        v.push(("index.json".into(), &self.index_json));
        v.push(("oci-layout".into(), OCI_LAYOUT.as_bytes()));
        v
    }

    /// The `oci-archive`: the layout tarred deterministically (ustar, sorted, root-owned,
    /// mtime = `SOURCE_DATE_EPOCH`), members at the top level as skopeo's `oci-archive:` reads.
    pub fn oci_archive(&self) -> Result<Vec<u8>> {
        let entries: Vec<Member> = self
            .files()
            .into_iter()
            .map(|(name, bytes)| Member::bytes(name, bytes.to_vec(), 0o644))
            .collect();
        archive::ustar_bytes(&entries, self.epoch).context("writing the oci-archive")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target;

    fn inputs() -> Vec<ImageInput> {
        ["x86_64-musl", "aarch64-musl"]
            .iter()
            .map(|a| ImageInput {
                target: target::lookup(a).unwrap(),
                binaries: vec![("hello".into(), format!("binary for {a}").into_bytes())],
                base: None,
            })
            .collect()
    }

    fn opts() -> ImageOptions {
        ImageOptions {
            name: "hello".into(),
            version: "1.0.0".into(),
            epoch: 1_700_000_000,
            source: Some("git+https://example.invalid/hello".into()),
            revision: Some("abc".into()),
            ..ImageOptions::default()
        }
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(315_532_800), "1980-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn same_inputs_same_digests() {
        let a = build(&inputs(), &opts()).unwrap();
        let b = build(&inputs(), &opts()).unwrap();
        assert_eq!(a.index, b.index);
        assert_eq!(a.platforms, b.platforms);
        assert_eq!(a.oci_archive().unwrap(), b.oci_archive().unwrap());
        let mut o = opts();
        o.epoch += 1;
        assert_ne!(build(&inputs(), &o).unwrap().index.digest, a.index.digest);
    }

    #[test]
    fn blobs_match_their_digests_and_config_is_right() {
        let l = build(&inputs(), &opts()).unwrap();
        for (d, (_, b)) in &l.blobs {
            assert_eq!(*d, digest_of(b));
        }
        let p = &l.platforms[1];
        assert_eq!(p.platform, "linux/arm64");
        assert_eq!(p.tag, "1.0.0-arm64");
        let cfg: serde_json::Value = serde_json::from_slice(&l.blobs[&p.config].1).unwrap();
        assert_eq!(cfg["config"]["User"], "65532:65532");
        assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/local/bin/hello");
        assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
        assert_eq!(cfg["architecture"], "arm64");
        assert_eq!(cfg["rootfs"]["diff_ids"][0], p.layers[0].as_str());
        assert_eq!(
            cfg["config"]["Labels"]["org.opencontainers.image.revision"],
            "abc"
        );
        let top: serde_json::Value = serde_json::from_slice(&l.index_json).unwrap();
        assert_eq!(top["manifests"][0]["digest"], l.index.digest.as_str());
        assert_eq!(top["manifests"][0]["annotations"][REF_NAME], "1.0.0");
    }

    #[test]
    fn layer_holds_passwd_and_binary() {
        let l = build(&inputs(), &opts()).unwrap();
        let layer = &l.blobs[&l.platforms[0].layers[0]].1;
        let mut ar = tar::Archive::new(layer.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"usr/local/bin/hello".to_owned()), "{names:?}");
        assert!(names.contains(&"etc/passwd".to_owned()), "{names:?}");
        assert!(passwd().contains("nonroot:x:65532:65532:"));
    }

    #[test]
    fn on_a_base_keeps_its_layers_env_and_labels_but_not_cmd() {
        let base_cfg = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2000-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["/bin/sh"], "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]},
            "history": [{"created_by": "base"}]
        });
        let layer = b"base layer".to_vec();
        let mut input = inputs().remove(0);
        input.base = Some(BaseImage {
            config: base_cfg,
            layers: vec![(
                descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer),
                layer,
            )],
        });
        let l = build(&[input], &opts()).unwrap();
        let p = &l.platforms[0];
        assert_eq!(p.layers.len(), 2);
        let cfg: serde_json::Value = serde_json::from_slice(&l.blobs[&p.config].1).unwrap();
        assert_eq!(
            cfg["config"]["Env"],
            serde_json::json!(["PATH=/usr/local/bin:/bin", "LANG=C"])
        );
        assert!(cfg["config"].get("Cmd").is_none());
        assert_eq!(cfg["config"]["Labels"]["a"], "b");
        assert_eq!(
            cfg["config"]["Labels"]["org.opencontainers.image.version"],
            "1.0.0"
        );
        assert_eq!(cfg["rootfs"]["diff_ids"][0], "sha256:00");
        assert_eq!(cfg["rootfs"]["diff_ids"][1], p.layers[1].as_str());
        assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
        assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
        // No passwd in kiln's layer on a base: the base's stays.
        let ours = &l.blobs[&p.layers[1]].1;
        let names: Vec<String> = tar::Archive::new(ours.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n == "etc/passwd"), "{names:?}");
        // A base of another architecture is refused.
        let mut input = inputs().remove(1);
        input.base = Some(BaseImage {
            config: serde_json::json!({"architecture": "amd64", "os": "linux"}),
            layers: Vec::new(),
        });
        assert!(build(&[input], &opts()).is_err());
    }

    #[test]
    fn subjects_list_archive_and_blobs() {
        let l = build(&inputs(), &opts()).unwrap();
        let set = ImageSet {
            layout: "hello-1.0.0.oci".into(),
            archive: "hello-1.0.0.oci.tar".into(),
            archive_sha256: "00".into(),
            archive_size: 0,
            index: l.index.digest.clone(),
            tag: l.tag.clone(),
            platforms: l.platforms.clone(),
        };
        let s = set.subjects();
        assert_eq!(s[0].0, "hello-1.0.0.oci.tar");
        assert_eq!(s.len(), 2 + 3 * 2);
        assert!(s[1].0.starts_with("hello-1.0.0.oci/blobs/sha256/"));
    }
}
