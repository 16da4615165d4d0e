//! Generates the Kotlin and Swift bindings from the built library (see `bindings/README.md`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
