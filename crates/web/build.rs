//! Links the browser module's wasm with wasm-ld's `--emit-relocs`: the linker's symbol table and
//! relocations stay in `target/.../mailconnect.wasm`, where scripts/gc-web-data.mjs reads which data
//! objects the module can still reach once Rust's panic and formatting code is snipped. Only the
//! wasm cdylib: tests, host builds and the Worker (another crate) link as before.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--emit-relocs");
    }
}
