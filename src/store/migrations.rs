//! Migrations embedded in the binary, one list per backend, applied at start by sqlx.
//! PostgreSQL migrations take sqlx's advisory lock, so replicas starting at once are safe.
//! Each backend has the same numbered files under `migrations/<backend>/`.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// `migrations!("sqlite": 1 "0001_init", …)` embeds `migrations/sqlite/0001_init.sql`, ….
macro_rules! migrations {
    ($backend:literal: $($version:literal $file:literal),* $(,)?) => {
        migrator(&[$(($version, $file, include_str!(concat!("migrations/", $backend, "/", $file, ".sql")))),*])
    };
}

/// SQLite migrations, oldest first.
pub fn sqlite() -> Migrator {
    migrations!("sqlite": 1 "0001_init", 2 "0002_key_activation", 3 "0003_grants", 4 "0004_keys_and_tokens")
}

/// PostgreSQL migrations, oldest first.
pub fn postgres() -> Migrator {
    migrations!("postgres": 1 "0001_init", 2 "0002_key_activation", 3 "0003_grants", 4 "0004_keys_and_tokens")
}

fn migrator(list: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}
