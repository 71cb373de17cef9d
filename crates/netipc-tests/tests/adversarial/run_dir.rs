//! Attack: another user controls the run directory (pre-creates the
//! default directory, makes it writable, or puts a link there) and then
//! replaces the provider's endpoint. The run-directory helper and the
//! listener refuse such a directory with a message naming the path, the
//! owner and the mode; what they create is 0700.

use netipc::transport::run_dir::{RunDirError, RunDirPolicy, default_run_dir, prepare_run_dir};
use netipc::transport::{Listener, ServerOptions};

use crate::common::watchdog;
use crate::rundir_support::*;

const CREATE: RunDirPolicy = RunDirPolicy {
    create: true,
    allow_group_write: false,
};

#[test]
fn an_empty_run_dir_is_refused_everywhere() {
    watchdog(LIMIT, || {
        for policy in [CREATE, RunDirPolicy::default()] {
            let err = prepare_run_dir("", &policy).unwrap_err();
            assert!(matches!(err, RunDirError::Empty), "{err}");
            assert!(err.to_string().contains("empty string"), "{err}");
        }
        let err = Listener::bind("", "svc", &ServerOptions::default()).unwrap_err();
        assert!(
            matches!(err, netipc::Error::RunDir(RunDirError::Empty)),
            "{err}"
        );
    });
}

#[test]
fn the_default_is_per_user_and_named_netipc() {
    let dir = default_run_dir().expect("a UTF-8 default");
    let last = std::path::Path::new(&dir)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a last component")
        .to_owned();
    #[cfg(unix)]
    {
        let xdg = std::env::var("XDG_RUNTIME_DIR")
            .ok()
            .filter(|x| x.starts_with('/'));
        let expected = match xdg {
            Some(x) => format!("{x}/netipc"),
            None if my_uid() == 0 && std::path::Path::new("/run").is_dir() => {
                "/run/netipc".to_owned()
            }
            None => std::env::temp_dir()
                .join(format!("netipc-{}", my_uid()))
                .to_str()
                .expect("UTF-8")
                .to_owned(),
        };
        assert_eq!(dir, expected);
    }
    #[cfg(windows)]
    assert_eq!(last, "netipc");
    assert!(last.starts_with("netipc"), "{dir}");
}

#[cfg(unix)]
mod posix {
    use std::path::Path;

    use netipc::transport::run_dir::RunDirState;

    use super::*;
    use crate::common::RunDir;

    fn text(err: &impl std::fmt::Display) -> String {
        err.to_string()
    }

    #[test]
    fn created_directories_are_0700_and_only_the_last_component() {
        watchdog(LIMIT, || {
            let parent = RunDir::new();
            let dir = parent.path.join("fresh");
            let path = dir.to_str().expect("UTF-8");
            assert_eq!(
                prepare_run_dir(path, &CREATE).unwrap(),
                RunDirState::Created
            );
            assert_eq!(mode_of(&dir), 0o700);
            assert_eq!(
                prepare_run_dir(path, &CREATE).unwrap(),
                RunDirState::Existing,
                "the second time it exists"
            );
            assert_eq!(
                prepare_run_dir(path, &RunDirPolicy::default()).unwrap(),
                RunDirState::Existing
            );

            // A missing parent is not created: nothing is left behind that
            // the caller would not know to remove.
            let deep = parent.path.join("a").join("b");
            let err = prepare_run_dir(deep.to_str().unwrap(), &CREATE).unwrap_err();
            assert!(matches!(err, RunDirError::MissingParent { .. }), "{err}");
            assert!(text(&err).contains(deep.to_str().unwrap()), "{err}");
            assert!(text(&err).contains("create the parent first"), "{err}");
            assert!(!parent.path.join("a").exists());

            // Without `create`, a missing directory is an error.
            let missing = parent.path.join("missing");
            let err =
                prepare_run_dir(missing.to_str().unwrap(), &RunDirPolicy::default()).unwrap_err();
            assert!(matches!(err, RunDirError::Missing { .. }), "{err}");
            assert!(!missing.exists());
        });
    }

    #[test]
    fn a_directory_of_another_user_is_refused_with_owner_and_mode() {
        watchdog(LIMIT, || {
            let parent = RunDir::new();
            // The attack of the issue: another user pre-created the
            // directory the provider would use.
            let dir = parent.path.join("netipc-victim");
            std::fs::create_dir(&dir).unwrap();
            set_mode(&dir, 0o700);
            give_away(&dir);
            let path = dir.to_str().unwrap();
            for policy in [
                CREATE,
                RunDirPolicy::default(),
                RunDirPolicy {
                    create: true,
                    allow_group_write: true,
                },
            ] {
                let err = prepare_run_dir(path, &policy).unwrap_err();
                match &err {
                    RunDirError::ForeignOwner {
                        path: p,
                        owner,
                        mode,
                        uid,
                    } => {
                        assert_eq!((p.as_str(), *owner, *mode), (path, OTHER_UID, 0o700));
                        assert_eq!(*uid, my_uid());
                    }
                    other => panic!("expected ForeignOwner, got {other}"),
                }
                let msg = text(&err);
                for part in [
                    path,
                    "uid 12345",
                    "mode 0700",
                    "choose another run directory",
                ] {
                    assert!(msg.contains(part), "{part:?} missing in: {msg}");
                }
            }
            // The listener refuses it too, whatever the caller checked.
            let err = Listener::bind(path, "svc", &ServerOptions::default()).unwrap_err();
            assert!(
                matches!(
                    err,
                    netipc::Error::RunDir(RunDirError::ForeignOwner {
                        owner: OTHER_UID,
                        ..
                    })
                ),
                "{err}"
            );
            assert!(
                std::fs::read_dir(&dir).unwrap().next().is_none(),
                "untouched"
            );
        });
    }

    #[test]
    fn writable_by_group_or_others_is_refused_unless_allowed() {
        watchdog(LIMIT, || {
            let parent = RunDir::new();
            let dir = parent.path.join("shared");
            std::fs::create_dir(&dir).unwrap();
            let path = dir.to_str().unwrap();
            let group_ok = RunDirPolicy {
                create: false,
                allow_group_write: true,
            };

            // Readable and searchable by group and others: fine.
            for mode in [0o700, 0o750, 0o755, 0o711] {
                set_mode(&dir, mode);
                assert_eq!(
                    prepare_run_dir(path, &RunDirPolicy::default()).unwrap(),
                    RunDirState::Existing,
                    "mode {mode:o}"
                );
            }

            // Group-writable: refused, unless the caller opts in.
            for mode in [0o770, 0o1770, 0o730] {
                set_mode(&dir, mode);
                let err = prepare_run_dir(path, &RunDirPolicy::default()).unwrap_err();
                assert!(
                    matches!(err, RunDirError::GroupWritable { mode: m, .. } if m == mode),
                    "{err}"
                );
                let msg = text(&err);
                assert!(
                    msg.contains(path) && msg.contains("writable by its group"),
                    "{msg}"
                );
                assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
                assert_eq!(
                    prepare_run_dir(path, &group_ok).unwrap(),
                    RunDirState::Existing
                );
            }

            // Writable by others: never, sticky (like /tmp) or not.
            for mode in [0o777, 0o1777, 0o703, 0o1733] {
                set_mode(&dir, mode);
                for policy in [RunDirPolicy::default(), group_ok] {
                    let err = prepare_run_dir(path, &policy).unwrap_err();
                    assert!(
                        matches!(err, RunDirError::WorldWritable { mode: m, .. } if m == mode),
                        "{err}"
                    );
                    assert!(text(&err).contains("writable by every user"), "{err}");
                }
                let err = Listener::bind(path, "svc", &ServerOptions::default()).unwrap_err();
                assert!(
                    matches!(
                        err,
                        netipc::Error::RunDir(RunDirError::WorldWritable { .. })
                    ),
                    "the listener refuses a world-writable directory: {err}"
                );
            }
            // `/tmp` itself.
            let err = prepare_run_dir("/tmp", &group_ok).unwrap_err();
            assert!(matches!(err, RunDirError::WorldWritable { .. }), "{err}");
            set_mode(&dir, 0o700);
        });
    }

    #[test]
    fn a_symlink_at_the_run_dir_path_is_refused_and_not_followed() {
        watchdog(LIMIT, || {
            let parent = RunDir::new();
            let target = parent.path.join("real");
            std::fs::create_dir(&target).unwrap();
            set_mode(&target, 0o755);
            let link = parent.path.join("link");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let dangling = parent.path.join("dangling");
            let nowhere = parent.path.join("nowhere");
            std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();

            for (path, to) in [(&link, &target), (&dangling, &nowhere)] {
                for policy in [CREATE, RunDirPolicy::default()] {
                    let err = prepare_run_dir(path.to_str().unwrap(), &policy).unwrap_err();
                    match &err {
                        RunDirError::Symlink { path: p, target } => {
                            assert_eq!(Path::new(p), path.as_path());
                            assert_eq!(Path::new(target), to.as_path());
                        }
                        other => panic!("expected Symlink, got {other}"),
                    }
                    assert!(text(&err).contains("symbolic link"), "{err}");
                }
                assert!(is_link(path), "the link is left alone");
            }
            assert!(!nowhere.exists(), "nothing was created through the link");
            assert_eq!(mode_of(&target), 0o755, "the target's mode is untouched");

            // Something else that is not a directory.
            let file = parent.path.join("file");
            std::fs::write(&file, b"x").unwrap();
            let err = prepare_run_dir(file.to_str().unwrap(), &CREATE).unwrap_err();
            assert!(
                matches!(
                    err,
                    RunDirError::NotADirectory {
                        kind: "regular file",
                        ..
                    }
                ),
                "{err}"
            );
        });
    }

    #[test]
    fn the_listener_takes_a_root_owned_directory_the_netdata_layout_uses() {
        watchdog(LIMIT, || {
            // Tests run as root: a root-owned 0750 directory is what a root
            // provider with group-only consumers uses (/run/netdata).
            let parent = RunDir::new();
            let dir = parent.path.join("netdata");
            std::fs::create_dir(&dir).unwrap();
            set_mode(&dir, 0o750);
            let path = dir.to_str().unwrap();
            assert_eq!(
                prepare_run_dir(path, &RunDirPolicy::default()).unwrap(),
                RunDirState::Existing
            );
            let listener = Listener::bind(path, "svc", &ServerOptions::default()).unwrap();
            drop(listener);
            assert!(
                std::fs::read_dir(&dir).unwrap().next().is_none(),
                "no leftovers"
            );
        });
    }
}
