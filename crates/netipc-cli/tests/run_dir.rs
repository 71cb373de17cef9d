//! `--run-dir` on every command: an empty one is a usage error, one that
//! another user controls is refused with its path, owner and mode, and
//! `serve` removes exactly what it created.

#[path = "live/support.rs"]
mod support;

use support::{Server, run};

#[test]
fn an_empty_run_dir_is_a_usage_error() {
    for args in [
        &["serve", "increment", "--run-dir", ""][..],
        &["call", "increment", "1", "--run-dir", ""],
        &["probe", "increment", "--run-dir", ""],
    ] {
        let err = run(args).fails(2);
        assert!(
            err.contains("--run-dir is empty: pass the path of a directory"),
            "{args:?}: {err}"
        );
    }
    for args in [
        &[
            "bench-server",
            "--scenario",
            "uds-pingpong",
            "--run-dir",
            "",
        ][..],
        &[
            "bench-client",
            "--scenario",
            "uds-pingpong",
            "--run-dir",
            "",
        ],
    ] {
        let r = run(args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains("--run-dir is empty"), "{args:?}: {r:?}");
    }
}

#[test]
fn a_second_provider_is_told_the_first_ones_pid() {
    let first = Server::start("increment", &[]);
    let err = first.run(&["serve", "increment"]).fails(1);
    assert!(
        err.contains(&format!(
            "another provider already serves \"increment\" in {} (pid {})",
            first.run_dir(),
            first.pid()
        )),
        "{err}"
    );
    assert_eq!(first.run(&["call", "increment", "1"]).ok(), "2\n");
    let stopped = first.stop();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(stopped.leftovers.is_empty(), "{stopped:?}");
}

#[test]
fn serve_keeps_a_run_dir_it_did_not_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_at(support::dir_arg(dir.path()), None, "increment", &[], true);
    let stopped = server.stop();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(dir.path().is_dir(), "an existing run dir is kept");
    assert!(stopped.leftovers.is_empty(), "{stopped:?}");
}

#[cfg(unix)]
mod posix {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_run_dir_of_another_user_is_refused_by_every_command() {
        let parent = tempfile::tempdir().expect("tempdir");
        // Another user created the directory first (the hijack of the
        // issue started this way).
        let dir = parent.path().join("netipc-root");
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755);
        std::os::unix::fs::lchown(&dir, Some(12345), Some(12345))
            .expect("chown needs root (the CI runs the tests as root)");
        let d = support::dir_arg(&dir);
        for args in [
            &["serve", "increment", "--run-dir", &d][..],
            &["call", "increment", "1", "--run-dir", &d],
            &["probe", "increment", "--run-dir", &d],
        ] {
            let err = run(args).fails(1);
            for part in [
                d.as_str(),
                "belongs to uid 12345",
                "mode 0755",
                "not to this user",
            ] {
                assert!(err.contains(part), "{args:?}: {part:?} missing in {err}");
            }
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "untouched");
    }

    #[test]
    fn writable_run_dirs_are_refused_and_group_write_is_an_opt_in() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        let d = support::dir_arg(&dir);

        set_mode(&dir, 0o1777);
        for extra in [&[][..], &["--shared-run-dir"]] {
            let mut args = vec!["serve", "increment", "--run-dir", &d];
            args.extend(extra);
            let err = run(&args).fails(1);
            assert!(err.contains("writable by every user"), "{err}");
            assert!(err.contains("mode 1777"), "{err}");
        }

        set_mode(&dir, 0o770);
        let err = run(&["serve", "increment", "--run-dir", &d]).fails(1);
        assert!(err.contains("writable by its group"), "{err}");
        assert!(err.contains("--shared-run-dir"), "{err}");
        let err = run(&["call", "increment", "1", "--run-dir", &d]).fails(1);
        assert!(err.contains("writable by its group"), "{err}");
        let server = Server::start_at(d.clone(), None, "increment", &["--shared-run-dir"], true);
        assert_eq!(
            server
                .run(&["call", "increment", "1", "--shared-run-dir"])
                .ok(),
            "2\n"
        );
        let stopped = server.stop();
        assert_eq!(stopped.code, 0, "{stopped:?}");
        assert!(stopped.leftovers.is_empty(), "{stopped:?}");
        assert_eq!(
            mode(&dir),
            0o770,
            "an existing directory's mode is not changed"
        );
    }

    #[test]
    fn a_link_as_run_dir_is_refused() {
        let parent = tempfile::tempdir().expect("tempdir");
        let real = parent.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = run(&["serve", "increment", "--run-dir", &support::dir_arg(&link)]).fails(1);
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    }

    #[test]
    fn serve_creates_only_the_last_component_and_removes_exactly_that() {
        let parent = tempfile::tempdir().expect("tempdir");

        // A missing parent is not created.
        let deep = parent.path().join("a").join("b");
        let err = run(&["serve", "increment", "--run-dir", &support::dir_arg(&deep)]).fails(1);
        assert!(err.contains("its parent"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(!parent.path().join("a").exists(), "nothing was created");

        // The last component is created 0700 and removed at the stop.
        let fresh = parent.path().join("fresh");
        let server = Server::start_at(support::dir_arg(&fresh), None, "increment", &[], true);
        assert_eq!(mode(&fresh), 0o700);
        let stopped = server.stop();
        assert_eq!(stopped.code, 0, "{stopped:?}");
        assert!(!fresh.exists());

        // What someone else put into it is theirs: the directory stays.
        let server = Server::start_at(support::dir_arg(&fresh), None, "increment", &[], true);
        std::fs::write(fresh.join("someone-elses"), b"x").unwrap();
        let stopped = server.stop();
        assert_eq!(stopped.code, 0, "{stopped:?}");
        assert!(stopped.output.contains("is kept"), "{stopped:?}");
        assert_eq!(stopped.leftovers, ["someone-elses"]);

        // A provider that cannot start removes what it created (here its
        // socket path would not fit a Unix socket address).
        let other = parent.path().join("other");
        let long = "s".repeat(100);
        let err = run(&[
            "serve",
            "increment",
            "--run-dir",
            &support::dir_arg(&other),
            "--service",
            &long,
        ])
        .fails(1);
        assert!(err.contains("cannot start the provider"), "{err}");
        assert!(!other.exists(), "the directory it created is gone");
    }
}
