//! Registers the Tanium Gateway schema subset with cynic, only when the `tanium` feature is on
//! (every other build skips cynic entirely).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=schemas/tanium.graphql");
    if std::env::var_os("CARGO_FEATURE_TANIUM").is_some() {
        register_tanium_schema();
    }
}

#[cfg(feature = "tanium")]
fn register_tanium_schema() {
    cynic_codegen::register_schema("tanium")
        .from_sdl_file("schemas/tanium.graphql")
        .expect("schemas/tanium.graphql is readable")
        .as_default()
        .expect("schemas/tanium.graphql is a valid GraphQL schema");
}

#[cfg(not(feature = "tanium"))]
fn register_tanium_schema() {}
