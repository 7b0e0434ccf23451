//! Migrations embedded in the binary, one list per backend, applied at start by sqlx.
//! PostgreSQL migrations take sqlx's advisory lock, so replicas starting at once are safe.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// SQLite migrations, oldest first.
pub fn sqlite() -> Migrator {
    migrator(&[
        (1, "init", include_str!("migrations/sqlite/0001_init.sql")),
        (
            2,
            "key activation",
            include_str!("migrations/sqlite/0002_key_activation.sql"),
        ),
    ])
}

/// PostgreSQL migrations, oldest first.
pub fn postgres() -> Migrator {
    migrator(&[
        (1, "init", include_str!("migrations/postgres/0001_init.sql")),
        (
            2,
            "key activation",
            include_str!("migrations/postgres/0002_key_activation.sql"),
        ),
    ])
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
