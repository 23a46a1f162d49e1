//! Record-batch validation: any bytes are a valid v2 batch or an error, never a panic; a batch
//! that validates has a header that agrees with its bytes, and its record values lie inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_record::batch;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = batch::validate(data, 1 << 20) {
        assert!(h.size_bytes <= data.len());
        assert_eq!(batch::compute_crc(&data[..h.size_bytes]), h.crc);
        for (at, len) in batch::record_values(&data[..h.size_bytes]) {
            assert!(at + len <= h.size_bytes);
        }
    }
    let _ = batch::parse_header(data, usize::MAX);
    let _ = batch::parse_header_fields(data);
});
