//! Writes the seed corpora under fuzz/corpus (valid bodies, tokens signed by the fixture's key,
//! a registration and an assertion for its ceremonies, sample configurations, policies and
//! forms). Run when the seeds or the fixture change:
//! `cargo run -p deadbolt-fuzz-targets --example write_seeds`.

fn main() -> anyhow::Result<()> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    deadbolt_fuzz_targets::write_seeds(&corpus)?;
    println!("seeds written under {}", corpus.display());
    Ok(())
}
