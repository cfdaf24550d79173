//! Release archives as `kiln verify-release` unpacks them (streaming, within its limits): the
//! same bytes are read as tar.gz, tar.xz, tar.zst and zip. Whatever is accepted must hold only relative names without
//! a `..` component.
#![no_main]

use kiln::archive::ArchiveFormat;
use kiln::archive::read_archive;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in ArchiveFormat::ALL {
        let Ok(members) = read_archive(format, std::io::Cursor::new(data)) else {
            continue;
        };
        for name in members.keys() {
            assert!(
                !name.starts_with('/'),
                "{format}: absolute member {name:?} accepted"
            );
            assert!(
                !name.split('/').any(|c| c == ".."),
                "{format}: member {name:?} escapes the archive"
            );
        }
    }
});
