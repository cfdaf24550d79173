//! `manifest.json` as `kiln verify-release` and `kiln image` read it: serde into
//! [`kiln::manifest::Manifest`], then what both do with each artifact (target lookup, archive
//! format from the file name, image file list). A manifest that parses must survive a
//! serialize/parse round trip unchanged.
#![no_main]

use kiln::archive::ArchiveFormat;
use kiln::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else {
        return;
    };
    for a in &manifest.artifacts {
        let _ = kiln::target::lookup(&a.target);
        let _ = ArchiveFormat::ALL
            .iter()
            .find(|f| a.file.ends_with(&format!(".{}", f.extension())));
    }
    if let Some(images) = &manifest.images {
        let _ = images.subjects();
    }
    let text = serde_json::to_vec_pretty(&manifest).expect("a parsed manifest serializes");
    let back: Manifest = serde_json::from_slice(&text).expect("a written manifest parses");
    assert_eq!(back, manifest, "manifest round trip changed it");
});
