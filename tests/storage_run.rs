//! `podman run` of images skiff wrote into containers-storage: the container sees the layer
//! stack as the image defines it (whiteouts and opaque directories applied, links, modes
//! and owners kept) on both drivers, and its writable layer on top works.
//!
//! Needs: apt-get install -y podman busybox-static (a static /bin/busybox is the image's only
//! program), root (overlay mounts, runc). podman asks runc for 1048576 open files and as
//! many processes, more than runc may set on this machine ("error setting rlimit type 7:
//! operation not permitted"), so the runs ask for 1024 of each, all a shell needs.

#[path = "support/loopback.rs"]
mod loopback;
mod support;

#[path = "support/store.rs"]
mod store;
#[path = "support/store_facts.rs"]
mod store_facts;

use std::fs;

use store::*;
use store_facts::*;
use support::*;

/// What the container prints about its own file system (see `CHECKS`).
const EXPECTED: &str = "\
opq: new
etc/a: whited out
etc/a-link: a file
etc/abs -> /etc/a
etc/rel -> a
/tmp 1777 0:0
/usr/bin/suid 4755 0:0
/etc/attrs 644 1000:1001
written: hi
";

/// Run by busybox's shell inside the container; each line answers one question.
const CHECKS: &str = r#"B=/bin/busybox
echo "opq: $($B ls /opq)"
if $B test -e /etc/a; then echo "etc/a: present"; else echo "etc/a: whited out"; fi
echo "etc/a-link: $($B cat /etc/a-link)"
echo "etc/abs -> $($B readlink /etc/abs)"
echo "etc/rel -> $($B readlink /etc/rel)"
for f in /tmp /usr/bin/suid /etc/attrs; do $B stat -c '%n %a %u:%g' "$f"; done
echo hi > /tmp/written && echo "written: $($B cat /tmp/written)"
"#;

#[test]
fn podman_runs_what_skiff_stored_with_the_layers_applied() {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let program = TarBuilder::new()
        .dir("bin/", 0o755)
        .file("bin/busybox", 0o755, &busybox)
        .build();
    let mut layers = vec![program];
    layers.extend(special_layers());
    let t = tempdir();
    let image = image_from_tars(&t.path().join("src"), "run", &layers);
    for driver in DRIVERS {
        let store = Store::new(driver);
        store
            .skiff_copy(&[&image.oci_ref(), &store.name("run:1")])
            .assert_success();
        let run = store.podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "run:1",
            "/bin/busybox",
            "sh",
            "-c",
            CHECKS,
        ]);
        run.assert_success();
        assert_eq!(run.stdout, EXPECTED, "{driver}: the container's view");
        // The container's writable layer went with it: the store holds the image alone.
        let containers = store.podman(&["ps", "--all", "--quiet"]);
        containers.assert_success();
        assert_eq!(containers.stdout.trim(), "", "{driver}: containers left");
        assert_eq!(store.layers_json().len(), 3, "{driver}: layers");
    }
}
