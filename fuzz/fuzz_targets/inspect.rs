//! Arbitrary bytes through the `kiln inspect` / `kiln verify` chain: format sniffing, SHA-256
//! and store-reference scan, ELF facts, the policy of every target and both reports.
#![no_main]

use std::path::Path;

use kiln::policy::{self, Options};
use kiln::report::Verdict;
use kiln::ui::Style;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let inspection = kiln::elf::inspect_bytes(Path::new("fuzz"), data);
    let _ = serde_json::to_vec(&inspection.facts).expect("facts serialize");
    let _ = kiln::report::facts_block(&inspection.facts, Style::plain());
    // The last byte picks the policy options, so every switch gets exercised.
    let switches = data.last().copied().unwrap_or(0);
    let opts = Options {
        glibc_max: (switches & 1 != 0).then(|| kiln::elf::GlibcVersion(vec![2, 17])),
        allow_needed: if switches & 2 != 0 {
            vec!["libz".into()]
        } else {
            Vec::new()
        },
        require_stripped: switches & 4 != 0,
        strict: switches & 8 != 0,
        allow_debug: switches & 16 != 0,
    };
    for target in kiln::target::all() {
        let findings = policy::check(&inspection, target, &opts).expect("in-memory bytes never fail to read");
        let verdict = Verdict {
            path: "fuzz".into(),
            target: target.triple.clone(),
            ok: findings.iter().all(|f| f.severity != policy::Severity::Error),
            findings,
            error: None,
        };
        let _ = kiln::report::verdict_lines(&verdict, Style::plain());
        let _ = serde_json::to_vec(&verdict).expect("verdict serializes");
    }
});
