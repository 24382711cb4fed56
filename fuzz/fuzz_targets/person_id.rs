//! Fuzz target `person_id`: [`PersonId::parse`] on any text never panics, and a number it
//! accepts is well formed and parses back, from both canonical forms, to the same id.
//!
//! This file is both the check and the libFuzzer entry point. `tests/fuzz_corpus.rs` includes it
//! as a module (`#[path]`) and runs [`check`] over `fuzz/corpus/person_id/seed-*` in the ordinary
//! `cargo test`; there `cfg(test)` is set, which leaves the entry point out.
#![cfg_attr(not(test), no_main)]

use chrono::Utc;
use overblick::domain::{PersonId, PersonIdKind};

/// Parses `data` (as UTF-8, invalid sequences replaced) and checks what an accepted number
/// promises. Returns whether it was accepted.
pub fn check(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Ok(id) = PersonId::parse(&text) else {
        return false;
    };
    // After parsing, so that "today" is never earlier than the one `parse` judged by.
    let today = Utc::now().date_naive();

    let digits = id.digits();
    assert!(
        digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()),
        "digits() is not 12 digits"
    );
    let display = id.to_string();
    assert_eq!(
        display,
        format!("{}-{}", &digits[..8], &digits[8..]),
        "the display form is not YYYYMMDD-NNNC"
    );
    assert!(
        PersonId::parse(&digits) == Ok(id.clone()),
        "digits() does not parse back to the same id"
    );
    assert!(
        PersonId::parse(&display) == Ok(id.clone()),
        "the display form does not parse back to the same id"
    );

    // What the number encodes: a real date of birth, not in the future, the kind by its day.
    let birth = id.birth_date();
    assert!(
        birth <= today,
        "an accepted date of birth lies in the future"
    );
    let day: u32 = digits[6..8].parse().unwrap_or_default();
    assert_eq!(
        id.kind() == PersonIdKind::Samordningsnummer,
        day > 60,
        "the kind does not follow the day"
    );
    let _ = id.age_on(today);
    true
}

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check(data);
});
