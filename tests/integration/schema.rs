//! The committed SDL is the schema the code generates; frontends build against the file.

use crate::harness::repo_path;

#[test]
fn the_committed_schema_matches_the_code() {
    let path = repo_path("schema/schema.graphql");
    let generated = overblick::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("schema/schema.graphql is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/schema.graphql differs from the schema the code generates; \
         if the change is intended, run `UPDATE_SCHEMA=1 cargo test --test integration schema` \
         and commit the file"
    );
}
