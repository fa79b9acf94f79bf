//! A copy cut short must leave its destination as it was: SIGKILL in the middle of a copy
//! to each local kind, temporaries of live processes, failed copies and commits into
//! layouts shared by several images; and input that would exhaust memory or disk
//! (oversized signatures, gzip bombs) stops within its bounds. (Bad input: tests/safety.rs.)

#[path = "support/dest_case.rs"]
mod dest_case;
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dest_case::*;
use support::*;

// ------------------------------------------------------------------------------------------
// SIGKILL in the middle of a copy
// ------------------------------------------------------------------------------------------

/// ~40 MB of uncompressed layers, so that recompressing them takes a while.
fn big_image(dir: &Path) -> BuiltImage {
    let mb = 1 << 20;
    build_oci_image(
        dir,
        "latest",
        &[
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
        ],
        2024,
    )
}

/// Start the copy, wait for the first "Copying blob" line plus `delay`, SIGKILL it.
/// Returns skiff's stderr lines.
fn kill_mid_copy(case: &Case, src: &str, opts: &[&str], delay: Duration) -> Vec<String> {
    let mut c = skiff();
    c.env("TMPDIR", &case.tmpdir);
    c.args(["--insecure-policy", "copy"])
        .args(opts)
        .arg(src)
        .arg(case.dest_name());
    let started = Instant::now();
    let (mut child, seen, reader) = spawn_until_stderr_line(c, "Copying blob");
    assert!(
        seen.iter().any(|l| l.contains("Copying blob")),
        "skiff never started copying a blob: {seen:?} (exit: {:?})",
        child.try_wait()
    );
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().unwrap() {
        let rest = reader.unwrap().join().unwrap();
        panic!(
            "the copy finished ({status}) after {:?}, before it could be killed; make the image bigger. stderr: {rest:?}",
            started.elapsed()
        );
    }
    child.kill().expect("SIGKILL skiff"); // Child::kill sends SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "skiff was not killed by SIGKILL"
    );
    let mut all = reader.unwrap().join().unwrap();
    all.push(format!("(killed after {:?})", started.elapsed()));
    all
}

/// Entries that may legitimately remain after SIGKILL: hidden skiff temporaries (`.…skiff…`,
/// anywhere) and, inside an OCI layout, complete content-addressed blobs that nothing
/// references yet. Everything is printed so it shows up with --nocapture.
fn allowed_after_kill(case: &Case, rel: &str, entry: &Entry) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    if rel
        .split('/')
        .any(|c| c.starts_with('.') && c.contains("skiff"))
    {
        eprintln!(
            "[{}] after SIGKILL: temporary leftover {rel} ({entry:?})",
            case.label()
        );
        return true;
    }
    if let Entry::File { sha256, .. } = entry
        && case.kind == Kind::Oci
        && rel.starts_with("blobs/sha256/")
        && sha256 == &format!("sha256:{base}")
    {
        eprintln!(
            "[{}] after SIGKILL: complete unreferenced blob {rel}",
            case.label()
        );
        return true;
    }
    false
}

/// After SIGKILL: every original entry is unchanged, and anything new is allowed_after_kill.
#[track_caller]
fn assert_as_before_after_kill(case: &Case, stderr: &[String]) {
    let ctx = format!(
        "SIGKILL during copy [{}], skiff stderr: {stderr:#?}",
        case.label()
    );
    let now = snapshot(&case.dest);
    assert_eq!(
        now.absent, case.before.absent,
        "{ctx}: destination appeared or vanished"
    );
    for (k, v) in &case.before.entries {
        assert_eq!(
            now.entries.get(k),
            Some(v),
            "{ctx}: {k} changed or vanished"
        );
    }
    for (k, v) in &now.entries {
        if !case.before.entries.contains_key(k) {
            assert!(
                allowed_after_kill(case, k, v),
                "{ctx}: new entry {k} ({v:?}) in the destination"
            );
        }
    }
    for name in list_dir(&case.parent) {
        if !case.parent_before.contains(&name) {
            assert!(
                allowed_after_kill(case, &name, &Entry::Dir),
                "{ctx}: new entry {name} beside the destination"
            );
        }
    }
    for name in list_dir(&case.tmpdir) {
        eprintln!(
            "[{}] after SIGKILL: leftover in $TMPDIR: {name}",
            case.label()
        );
        // Scratch space in a --tmpdir others may share is private to the user.
        let mode = fs::symlink_metadata(case.tmpdir.join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{ctx}: {name} in $TMPDIR is mode {mode:o}");
    }
}

/// Kill, check, then copy again without interruption: it must succeed (no stale lock or
/// temporary file gets in the way) and give a consistent image.
fn kill_test(kind: Kind, state: State, opts: &[&str]) {
    let t = tempdir();
    let img = big_image(&t.path().join("big"));
    let case = Case::new(kind, state);
    let stderr = kill_mid_copy(&case, &img.oci_ref(), opts, Duration::from_millis(50));
    assert_as_before_after_kill(&case, &stderr);

    // What the killed copy left is swept once it is older than the sweep's threshold.
    for root in [&case.parent, &case.tmpdir] {
        age_skiff_leftovers(root);
    }
    let mut c = skiff();
    c.env("TMPDIR", &case.tmpdir);
    c.args(["--insecure-policy", "copy", "-q"])
        .args(opts)
        .arg(img.oci_ref())
        .arg(case.dest_name());
    run(&mut c).assert_success();
    let left: Vec<String> = snapshot(&case.dest)
        .entries
        .keys()
        .chain(list_dir(&case.parent).iter())
        .filter(|k| {
            k.split('/')
                .any(|c| c.starts_with('.') && c.contains("skiff"))
        })
        .cloned()
        .collect();
    // The retry swept what the killed process left behind.
    assert!(
        left.is_empty(),
        "[{}] leftovers of the killed copy survived a successful retry: {left:?}",
        case.label()
    );
    let in_tmpdir = list_dir(&case.tmpdir);
    assert!(
        in_tmpdir.is_empty(),
        "[{}] leftovers in $TMPDIR after the retry: {in_tmpdir:?}",
        case.label()
    );
    let loaded = match kind {
        Kind::Dir => load_dir(&case.dest),
        Kind::Oci => load_oci(&case.dest, Some("latest")),
        Kind::OciArchive => {
            let x = t.path().join("x");
            extract_tar(&case.dest, &x);
            load_oci(&x, Some("latest"))
        }
    };
    loaded.assert_consistent("copy after the killed one");
    assert_eq!(loaded.diff_ids(), img.diff_ids);
    assert_skopeo_sees_diff_ids(&case.dest_name(), &img.diff_ids);
}

#[test]
fn sigkill_during_copy_to_new_dir_leaves_no_destination() {
    kill_test(Kind::Dir, State::Absent, &["--dest-compress"]);
}

#[test]
fn sigkill_during_copy_into_existing_oci_layout_keeps_it_intact() {
    kill_test(Kind::Oci, State::Existing, &[]);
}

#[test]
fn sigkill_during_copy_to_oci_archive_leaves_no_archive() {
    kill_test(Kind::OciArchive, State::Absent, &[]);
}

#[test]
fn sigkill_during_copy_over_existing_oci_archive_keeps_it_intact() {
    kill_test(Kind::OciArchive, State::Existing, &[]);
}

#[test]
fn sigkill_during_copy_over_existing_dir_keeps_it_intact() {
    kill_test(Kind::Dir, State::Existing, &["--dest-compress"]);
}

/// The sweep of a killed copy's leftovers trusts locks, not PIDs. A staging directory whose
/// recorded PID is not alive here, but whose lock a live process holds (a copy in another
/// PID namespace, or on another NFS host, sharing the directory), survives a copy beside
/// it; once that process is gone, the next copy sweeps it.
#[test]
fn a_temporary_locked_by_a_live_process_is_not_swept() {
    let t = tempdir();
    let dest = t.path().join("img");
    // PID 2147483632 is above Linux's pid_max: never alive here.
    let busy = t.path().join(".img.skiff-stage-2147483632-Ab12Cd");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("partial-blob"), b"being written elsewhere").unwrap();
    age_skiff_leftovers(t.path());
    // One process that takes the lock and keeps it until it is killed (flock(1) from
    // util-linux on an inherited descriptor, then sleep in its place).
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 9<\"$1\" && flock 9 && exec sleep 120", "sh"])
        .arg(&busy)
        .spawn()
        .unwrap();
    // Wait until flock(1) holds the lock (a second open file description cannot take it).
    let probe = fs::File::open(&busy).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.try_lock().is_ok() {
        probe.unlock().unwrap();
        assert!(Instant::now() < deadline, "flock(1) never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let copy = || {
        skiff_copy([
            "-q",
            &example_ref("hello-oci"),
            &format!("dir:{}", p(&dest)),
        ])
    };
    copy().assert_success();
    assert!(
        busy.join("partial-blob").exists(),
        "a live process's temporary was swept because its PID is not alive here"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    copy().assert_success();
    assert!(!busy.exists(), "an abandoned temporary was not swept");
}

// ------------------------------------------------------------------------------------------
// Existing OCI layouts shared by several images
// ------------------------------------------------------------------------------------------

/// A failed copy into a layout takes back only the blobs it added. Here the second copy
/// compresses its first layer to exactly the blob the first image already uses (gzip output
/// depends only on the input), then fails on a corrupt second layer: the shared blob stays.
#[test]
fn a_failed_copy_keeps_blobs_other_images_in_the_layout_use() {
    let t = tempdir();
    let src = t.path().join("src");
    let img = build_oci_image(
        &src,
        "latest",
        &[layer(20_000, Comp::None), layer(3_000_000, Comp::None)],
        11,
    );
    let layout = t.path().join("layout");
    skiff_copy(["-q", &img.oci_ref(), &format!("oci:{}:a", p(&layout))]).assert_success();
    let before = snapshot(&layout);

    let bad = t.path().join("bad");
    copy_tree(&src, &bad);
    let blob = oci_blob(&bad, &img.layer_digests[1]);
    let mut b = fs::read(&blob).unwrap();
    let n = b.len();
    b[n - 1000] ^= 0x55;
    fs::write(&blob, &b).unwrap();
    skiff_copy([
        "-q",
        &format!("oci:{}:latest", p(&bad)),
        &format!("oci:{}:b", p(&layout)),
    ])
    .assert_exit1()
    .assert_stderr_contains(&img.layer_digests[1]);
    before.assert_unchanged("failed copy into a shared layout");
    skopeo_copy([
        &format!("oci:{}:a", p(&layout)),
        &format!("dir:{}", p(&t.path().join("d"))),
    ])
    .assert_success();
}

/// When the commit itself fails (the layout's index.json cannot be parsed), the blobs the
/// copy added are taken back too.
#[test]
fn a_failed_commit_into_an_existing_layout_takes_its_blobs_back() {
    let t = tempdir();
    let layout = t.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(layout.join("index.json"), b"{ not json").unwrap();
    let before = snapshot(&layout);
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("oci:{}:x", p(&layout)),
    ])
    .assert_exit1()
    .assert_stderr_contains("index.json");
    before.assert_unchanged("failed commit");
}

/// A `dir:` copy of the example image, to add signature files to.
fn dir_image() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let d = t.path().join("img");
    skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&d))]).assert_success();
    (t, d)
}

#[test]
fn signatures_are_read_within_bounds() {
    // Hard links to one 4 MiB file: 5 of them are over the 16 MiB total.
    let (t, d) = dir_image();
    let big = t.path().join("big-signature");
    let mut bytes = vec![0xa3u8; 4 << 20];
    bytes[1] = 1;
    fs::write(&big, &bytes).unwrap();
    for i in 1..=5 {
        fs::hard_link(&big, d.join(format!("signature-{i}"))).unwrap();
    }
    let out = skiff_copy([
        format!("dir:{}", p(&d)),
        format!("dir:{}", p(&t.path().join("out"))),
    ]);
    out.assert_exit1()
        .assert_stderr_contains("signatures of one image total more than 16777216 bytes");
    assert!(!t.path().join("out").exists());

    // Too many small ones.
    let (t, d) = dir_image();
    for i in 1..=129 {
        fs::write(d.join(format!("signature-{i}")), [0xa3, 1, 2]).unwrap();
    }
    let out = skiff_copy([
        format!("dir:{}", p(&d)),
        format!("dir:{}", p(&t.path().join("out"))),
    ]);
    out.assert_exit1()
        .assert_stderr_contains("more than 128 signatures for one image");
}

#[test]
fn removed_signatures_are_not_read() {
    let (t, d) = dir_image();
    // Not a signature in any format skiff or skopeo reads.
    fs::write(d.join("signature-1"), b"\0garbage\n").unwrap();
    let dest = |name: &str| format!("dir:{}", p(&t.path().join(name)));
    let src = format!("dir:{}", p(&d));
    skiff_copy([src.clone(), dest("kept")])
        .assert_exit1()
        .assert_stderr_contains("parsing signature");
    skiff_copy(["--remove-signatures".to_string(), src, dest("removed")]).assert_success();
    assert!(!t.path().join("removed/signature-1").exists());
}

// ------------------------------------------------------------------------------------------
// A gzip bomb under --dest-decompress
// ------------------------------------------------------------------------------------------

/// An OCI layout at `dir` whose one layer is a gzip bomb: a tar holding `len` zero bytes,
/// a few hundred KB compressed. Returns `oci:DIR:bomb`.
fn gzip_bomb_layout(dir: &Path, len: u64) -> String {
    use flate2::write::GzEncoder;
    use sha2::Digest as _;
    use std::io::Write;
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut diff_id = sha2::Sha256::new();
    let mut put = |data: &[u8]| {
        diff_id.update(data);
        gz.write_all(data).unwrap();
    };
    let mut h = tar::Header::new_ustar();
    h.set_path("zeros").unwrap();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_cksum();
    put(h.as_bytes());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len.div_ceil(1 << 20) {
        put(&zeros);
    }
    put(&[0u8; 1024]);
    let layer = gz.finish().unwrap();
    let diff_id = format!("sha256:{}", hex_of(&diff_id.finalize()));

    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put_blob = |data: &[u8]| {
        let d = sha256_digest(data);
        fs::write(oci_blob(dir, &d), data).unwrap();
        (d, data.len())
    };
    let (layer_digest, layer_size) = put_blob(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let (config_digest, config_size) = put_blob(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put_blob(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "bomb"}}],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    format!("oci:{}:bomb", dir.display())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `skiff --insecure-policy copy ARGS...` with `$1` a fresh 64 MiB tmpfs in a private
/// mount namespace (`$1` in ARGS, with an empty `$1/tmp`), and checks that the copy stopped
/// at the filesystem's reserve, left nothing in it, and peaked under 100 MB of memory
/// (skiff's included: `unshare` waits for the shell, which waits for skiff).
fn copy_stops_at_the_reserve_of_a_small_filesystem(dir: &Path, args: &[&str]) -> Out {
    let small = dir.join("small");
    fs::create_dir(&small).unwrap();
    let script = r#"mount -t tmpfs -o size=64m skiff-test "$1" || exit 99
mkdir "$1/tmp"
m="$1"; skiff="$2"; shift 2
"$skiff" --insecure-policy copy "$@"
rc=$?
stat -f -c '%a %S' "$m"
ls -A "$m" "$m/tmp"
exit $rc"#;
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("$1", &small.display().to_string()))
        .collect();
    let (out, peak_kib) = run_peak_rss(
        std::process::Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(&small)
            .arg(skiff_bin())
            .args(&args)
            .env("HOME", empty_home())
            .current_dir(dir),
    );
    assert_ne!(
        out.code,
        Some(99),
        "cannot mount a tmpfs in a user namespace: {out}"
    );
    let mut lines = out.stdout.lines();
    let (blocks, size) = lines.next().unwrap().split_once(' ').unwrap();
    let free = blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap();
    let left: Vec<String> = lines.map(str::to_string).collect();
    stopped_at_the_reserve(&out);
    assert!(
        free > 60 << 20,
        "{free} bytes free after the copy failed\n{out}"
    );
    let small = p(&small);
    let clean = [
        format!("{small}:"),
        "tmp".into(),
        "".into(),
        format!("{small}/tmp:"),
    ];
    assert_eq!(left, clean, "left behind in the filesystem\n{out}");
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB\n{out}");
    out
}

/// The reserve of the 64 MiB test filesystem (5%), and the free bytes the error reports.
fn stopped_at_the_reserve(out: &Out) -> u64 {
    let reserve = (64u64 << 20) / 20;
    let needle = format!("its filesystem would have less than {reserve} bytes (");
    out.assert_exit1().assert_stderr_contains(&needle);
    let after = &out.stderr[out.stderr.find(&needle).unwrap() + needle.len()..];
    let available: u64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!(
        available >= reserve,
        "stopped with {available} bytes free\n{out}"
    );
    available
}

/// 256 MiB of zeros (260 KB gzipped) decompressed into a 64 MiB filesystem: skiff stops
/// before the filesystem's reserve (5% of it), says how far it got, leaves nothing behind,
/// and streams in flat memory.
#[test]
fn a_gzip_bomb_under_dest_decompress_stops_at_the_disk_reserve() {
    let t = tempdir();
    let src = gzip_bomb_layout(&t.path().join("bomb"), 256 << 20);
    copy_stops_at_the_reserve_of_a_small_filesystem(
        t.path(),
        &["--dest-decompress", &src, "dir:$1/out"],
    );
}

/// A gzipped docker-archive whose tar holds 256 MiB of zeros: decompressing it into
/// --tmpdir (a 64 MiB filesystem) stops at the reserve, and the spool is removed.
#[test]
fn a_compressed_archive_bomb_stops_at_the_tmpdir_reserve() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let t = tempdir();
    let bomb = t.path().join("bomb.tar.gz");
    let mut gz = GzEncoder::new(
        fs::File::create(&bomb).unwrap(),
        flate2::Compression::best(),
    );
    let entry = |gz: &mut GzEncoder<fs::File>, name: &str, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
    };
    let manifest = br#"[{"Config":"c.json","RepoTags":["bomb:latest"],"Layers":["layer.tar"]}]"#;
    entry(&mut gz, "manifest.json", manifest.len() as u64);
    gz.write_all(manifest).unwrap();
    gz.write_all(&vec![0u8; 512 - manifest.len() % 512])
        .unwrap();
    entry(&mut gz, "layer.tar", 256 << 20);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap();

    let src = format!("docker-archive:{}", p(&bomb));
    let out = copy_stops_at_the_reserve_of_a_small_filesystem(
        t.path(),
        &[
            "--tmpdir",
            "$1/tmp",
            &src,
            &format!("dir:{}", p(&t.path().join("out"))),
        ],
    );
    out.assert_stderr_contains("decompressing the gzip-compressed archive: stopped after writing");
}
