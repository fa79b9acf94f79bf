//! Compresses one file the way skiff's parallel gzip does (1 MiB blocks, each primed with
//! the previous 32 KiB and ended with a sync flush) with zlib-rs and with ISA-L, on one
//! thread, checks each stream decompresses to the input, and prints bytes and seconds.

use std::io::Read;
use std::time::Instant;

use isal_sys::igzip_lib as isal;

const BLOCK: usize = 1 << 20;

/// Compresses one block (level, dictionary, input) onto the end of the output.
type Engine = fn(u32, &[u8], &[u8], &mut Vec<u8>);
const WINDOW: usize = 32 * 1024;

fn zlib_rs_block(level: u32, dict: &[u8], input: &[u8], out: &mut Vec<u8>) {
    let mut c = flate2::Compress::new(flate2::Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).expect("dictionary");
    }
    out.reserve(input.len() + 4096);
    let status = c
        .compress_vec(input, out, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert!(matches!(status, flate2::Status::Ok) && c.total_in() == input.len() as u64);
}

fn isal_block(level: u32, dict: &[u8], input: &[u8], out: &mut Vec<u8>) {
    let level_buf_size = match level {
        1 => isal::ISAL_DEF_LVL1_DEFAULT,
        2 => isal::ISAL_DEF_LVL2_DEFAULT,
        _ => isal::ISAL_DEF_LVL3_DEFAULT,
    };
    let mut level_buf = vec![0u8; level_buf_size as usize];
    let start = out.len();
    out.resize(start + input.len() + input.len() / 8 + 1024, 0);
    // SAFETY: the stream is initialised by isal_deflate_init before any field is read; every
    // pointer handed to ISA-L (level buffer, dictionary, input, output) outlives the calls
    // and its length is the one given.
    let written = unsafe {
        let mut s = std::mem::MaybeUninit::<isal::isal_zstream>::uninit();
        isal::isal_deflate_init(s.as_mut_ptr());
        let mut s = s.assume_init();
        s.level = level;
        s.level_buf = level_buf.as_mut_ptr();
        s.level_buf_size = level_buf_size;
        s.gzip_flag = isal::IGZIP_DEFLATE as u16;
        s.flush = isal::SYNC_FLUSH as u16;
        if !dict.is_empty() {
            let rc =
                isal::isal_deflate_set_dict(&mut s, dict.as_ptr().cast_mut(), dict.len() as u32);
            assert_eq!(rc, 0, "isal_deflate_set_dict");
        }
        s.next_in = input.as_ptr().cast_mut();
        s.avail_in = input.len() as u32;
        s.next_out = out.as_mut_ptr().add(start);
        s.avail_out = (out.len() - start) as u32;
        assert_eq!(isal::isal_deflate(&mut s), 0, "isal_deflate");
        assert_eq!(s.avail_in, 0, "output buffer too small");
        out.len() - start - s.avail_out as usize
    };
    out.truncate(start + written);
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: gzip-engines FILE");
    let data = std::fs::read(&path).expect("read the input");
    let engines: [(&str, Engine, u32); 5] = [
        ("zlib-rs level 2", zlib_rs_block, 2),
        ("zlib-rs level 3 (skiff's default)", zlib_rs_block, 3),
        ("ISA-L level 1", isal_block, 1),
        ("ISA-L level 2", isal_block, 2),
        ("ISA-L level 3", isal_block, 3),
    ];
    println!("| engine (1 MiB blocks, one thread) | bytes | CPU s |");
    println!("|---|---|---|");
    for (name, block, level) in engines {
        let t = Instant::now();
        let mut out = Vec::with_capacity(data.len() / 2);
        for (i, chunk) in data.chunks(BLOCK).enumerate() {
            let off = i * BLOCK;
            block(
                level,
                &data[off.saturating_sub(WINDOW)..off],
                chunk,
                &mut out,
            );
        }
        out.extend_from_slice(&[0x03, 0x00]); // an empty final block
        let secs = t.elapsed().as_secs_f64();
        let mut back = Vec::with_capacity(data.len());
        flate2::read::DeflateDecoder::new(&out[..])
            .read_to_end(&mut back)
            .expect("inflate");
        assert!(
            back == data,
            "{name}: the stream does not decompress to the input"
        );
        println!("| {name} | {} | {secs:.2} |", out.len());
    }
}
