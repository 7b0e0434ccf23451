//! Rebuilds when a migration file is added or changed: `sqlx::migrate!` embeds the
//! `src/store/migrations/<backend>/` directories at compile time.

fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
}
