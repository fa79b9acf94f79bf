use super::tar_walk::Time;
use super::toc::rfc3339;
use super::*;

#[test]
fn times_are_written_as_go_writes_them() {
    assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(Some(Time { secs: 0, nanos: 0 })),
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        rfc3339(Some(Time {
            secs: 1_704_067_200,
            nanos: 500_000_000
        })),
        "2024-01-01T00:00:00.5Z"
    );
}

/// A small tar with a file split by zeros, then bytes after the end-of-archive blocks.
fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut data = vec![7u8; 100];
    data.extend(vec![0u8; 5000]);
    data.extend(vec![9u8; 100]);
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "a/file", &data[..]).unwrap();
    let mut tar = b.into_inner().unwrap();
    tar.extend_from_slice(b"trailing bytes");
    tar
}

#[test]
fn every_input_byte_comes_back_and_the_annotations_point_at_the_toc() {
    let tar = sample_tar();
    let mut out = Vec::new();
    let annotations = compress(&tar[..], &mut out, 3).unwrap();
    assert_eq!(zstd::stream::decode_all(&out[..]).unwrap(), tar);
    let position = &annotations[1].1;
    let fields: Vec<u64> = position.split(':').map(|f| f.parse().unwrap()).collect();
    let toc = &out[fields[0] as usize..(fields[0] + fields[1]) as usize];
    assert_eq!(
        annotations[0].1,
        format!("sha256:{}", hex::encode(Sha256::digest(toc)))
    );
    let toc = String::from_utf8(zstd::stream::decode_all(toc).unwrap()).unwrap();
    assert_eq!(toc.len() as u64, fields[2]);
    assert!(toc.contains(r#""chunkType":"zeros""#), "{toc}");
}

#[test]
fn input_that_is_not_a_tar_is_refused() {
    let err = compress(&[1u8; 1024][..], Vec::new(), 3).unwrap_err();
    assert!(err.to_string().contains("not a valid tar"), "{err}");
}
