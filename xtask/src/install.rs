//! `cargo xtask install-c --prefix DIR`: the C library as a C project
//! consumes it, and the c lane's check that an out-of-tree program builds
//! against an installed prefix with pkg-config and with CMake.
//!
//! Layout under the prefix:
//!
//! ```text
//! include/netipc/netipc_protocol.h, netipc_service.h
//! lib/libnetipc_c.a, lib/libnetipc_c.so
//! lib/pkgconfig/netipc.pc
//! lib/cmake/netipc/netipcConfig.cmake, netipcConfigVersion.cmake
//! ```
//!
//! The CMake package is relocatable (paths are relative to the config
//! file) and defines `netipc::netipc` (the shared library) and
//! `netipc::netipc_static`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process;

/// The library's file names in a cargo profile directory.
const LIBRARIES: &[&str] = &["libnetipc_c.a", "libnetipc_c.so"];
const HEADERS: &[&str] = &["netipc_protocol.h", "netipc_service.h"];
/// What a program linking the static library needs besides it.
const STATIC_LIBS: &str = "-lpthread -ldl -lm -lrt -lutil";
/// The version of the installed package (the workspace's).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the release library with `cargo` and installs it under `prefix`.
pub fn install(root: &Path, prefix: &Path, cargo: Command, limit: Duration) -> Result<(), String> {
    let mut build = cargo;
    build.args(["build", "--release", "-p", "netipc-c", "--lib"]);
    process::run(&mut build, limit).map_err(|err| format!("cargo build: {err}"))?;
    let release = crate::cross::target_dir(root, None).join("release");
    copy_files(
        prefix,
        &release,
        &root.join("crates/netipc-c/include/netipc"),
    )?;
    eprintln!(
        "xtask: installed the netipc C library under {}",
        prefix.display()
    );
    Ok(())
}

fn copy_files(prefix: &Path, release: &Path, headers: &Path) -> Result<(), String> {
    let (include, lib) = (prefix.join("include/netipc"), prefix.join("lib"));
    let (pkgconfig, cmake) = (lib.join("pkgconfig"), lib.join("cmake/netipc"));
    for dir in [&include, &pkgconfig, &cmake] {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let copy = |from: PathBuf, to: PathBuf| {
        fs::copy(&from, &to)
            .map(drop)
            .map_err(|err| format!("cannot copy {} to {}: {err}", from.display(), to.display()))
    };
    for name in LIBRARIES {
        copy(release.join(name), lib.join(name))?;
    }
    for name in HEADERS {
        copy(headers.join(name), include.join(name))?;
    }
    let write = |path: PathBuf, text: String| {
        fs::write(&path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))
    };
    write(pkgconfig.join("netipc.pc"), pc_file(prefix))?;
    write(cmake.join("netipcConfig.cmake"), CMAKE_CONFIG.to_owned())?;
    write(
        cmake.join("netipcConfigVersion.cmake"),
        CMAKE_VERSION.replace("@VERSION@", VERSION),
    )
}

fn pc_file(prefix: &Path) -> String {
    format!(
        "prefix={}\n\
         includedir=${{prefix}}/include\n\
         libdir=${{prefix}}/lib\n\
         \n\
         Name: netipc\n\
         Description: NetIPC local IPC for Netdata plugins: the C API of netipc\n\
         Version: {VERSION}\n\
         Cflags: -I${{includedir}}\n\
         Libs: -L${{libdir}} -lnetipc_c\n\
         Libs.private: {STATIC_LIBS}\n",
        prefix.display()
    )
}

const CMAKE_CONFIG: &str = r#"# netipc: the C API of netipc (find_package(netipc)).
# Targets: netipc::netipc (shared library), netipc::netipc_static.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
get_filename_component(_netipc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET netipc::netipc)
  add_library(netipc::netipc SHARED IMPORTED)
  set_target_properties(netipc::netipc PROPERTIES
    IMPORTED_LOCATION "${_netipc_prefix}/lib/libnetipc_c.so"
    IMPORTED_NO_SONAME TRUE
    INTERFACE_INCLUDE_DIRECTORIES "${_netipc_prefix}/include")
  add_library(netipc::netipc_static STATIC IMPORTED)
  set_target_properties(netipc::netipc_static PROPERTIES
    IMPORTED_LOCATION "${_netipc_prefix}/lib/libnetipc_c.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_netipc_prefix}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m;rt;util")
endif()
unset(_netipc_prefix)
"#;

const CMAKE_VERSION: &str = r#"set(PACKAGE_VERSION "@VERSION@")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
"#;

/// The c lane's `install` step: installs into a fresh prefix under
/// `target`, builds `crates/netipc-c/tests/c/installed` against it with
/// pkg-config and with CMake (shared and static), and runs the programs.
pub fn check_installed(
    root: &Path,
    target: &Path,
    cargo: Command,
    limit: Duration,
) -> Result<(), String> {
    let work = target.join("c/installed");
    let _ = fs::remove_dir_all(&work);
    let prefix = work.join("prefix");
    install(root, &prefix, cargo, limit)?;
    let source = root.join("crates/netipc-c/tests/c/installed");
    let lib = prefix.join("lib");

    // pkg-config, as a Makefile would use it.
    let flags = process::capture(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "netipc"])
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig")),
    )?;
    let program = work.join("installed_pkg_config");
    let mut gcc = Command::new("gcc");
    gcc.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(source.join("main.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&program);
    process::run(&mut gcc, limit).map_err(|err| format!("gcc with pkg-config: {err}"))?;
    let mut run = Command::new(&program);
    run.env("LD_LIBRARY_PATH", &lib);
    process::run(&mut run, limit).map_err(|err| format!("{}: {err}", program.display()))?;

    // CMake's find_package(netipc).
    let build = work.join("cmake");
    let mut configure = Command::new("cmake");
    configure
        .arg("-S")
        .arg(&source)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()));
    process::run(&mut configure, limit).map_err(|err| format!("cmake: {err}"))?;
    let mut make = Command::new("cmake");
    make.arg("--build").arg(&build);
    process::run(&mut make, limit).map_err(|err| format!("cmake --build: {err}"))?;
    for name in ["installed_shared", "installed_static"] {
        let mut run = Command::new(build.join(name));
        process::run(&mut run, limit).map_err(|err| format!("{name}: {err}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pc_file_names_the_prefix_and_the_libraries() {
        let pc = pc_file(Path::new("/opt/netipc"));
        assert!(pc.starts_with("prefix=/opt/netipc\n"), "{pc}");
        assert!(pc.contains("Libs: -L${libdir} -lnetipc_c\n"), "{pc}");
        assert!(pc.contains(&format!("Version: {VERSION}\n")), "{pc}");
        assert!(pc.contains("Libs.private: -lpthread"), "{pc}");
    }
}
