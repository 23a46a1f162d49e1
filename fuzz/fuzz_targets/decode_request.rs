//! Request decoding: any bytes after a length prefix give a request or a BadRequest error, never
//! a panic or an allocation the frame's size does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let prefix = [data[0], data[1], data[2], data[3]];
        let _ = strata_shards::codec::frame_len(prefix, 1 << 20);
    }
    let _ = strata_shards::codec::decode_request(bytes::Bytes::copy_from_slice(data), 1 << 20);
});
