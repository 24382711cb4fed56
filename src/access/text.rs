//! Free text the access rules accept (an emergency `reason`): it must say something a reader can
//! see. The access log shows it to the patient and to whoever follows the emergency up, so a
//! reason made only of characters that render as nothing (a zero-width space, a no-break space,
//! a bidi control) is no reason: it would look blank in the log while passing as "given".
//!
//! Unicode's general category is not available from the standard library, and the crates that
//! have it (`icu_properties`, `unicode-*`) are not direct dependencies, so the invisible
//! characters are listed here: the format characters (category Cf) and the other default
//! ignorable code points of Unicode 16, plus the few letters and symbols that render blank.
//! Whitespace and control characters come from `char`'s own methods.

/// Whether `c` renders as nothing visible, or as blank space.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || c.is_control() || INVISIBLE.iter().any(|r| r.contains(&c))
}

/// Whether `text` holds at least one character a reader can see.
pub fn has_visible_text(text: &str) -> bool {
    text.chars().any(|c| !is_invisible(c))
}

/// `text` trimmed, if it holds anything visible; `None` when it is absent or looks blank.
pub fn stated(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| has_visible_text(t))
}

/// Code points that are neither whitespace nor control characters yet show nothing: every
/// format character (Cf) of Unicode 16, the rest of `Default_Ignorable_Code_Point`, and blank
/// letters and symbols (Hangul fillers, the blank Braille pattern).
const INVISIBLE: &[std::ops::RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}',   // soft hyphen (Cf)
    '\u{034F}'..='\u{034F}',   // combining grapheme joiner
    '\u{0600}'..='\u{0605}',   // Arabic number signs (Cf, prepended)
    '\u{061C}'..='\u{061C}',   // Arabic letter mark (Cf, bidi)
    '\u{06DD}'..='\u{06DD}',   // Arabic end of ayah (Cf)
    '\u{070F}'..='\u{070F}',   // Syriac abbreviation mark (Cf)
    '\u{0890}'..='\u{0891}',   // Arabic pound and piastre marks above (Cf)
    '\u{08E2}'..='\u{08E2}',   // Arabic disputed end of ayah (Cf)
    '\u{115F}'..='\u{1160}',   // Hangul choseong and jungseong fillers
    '\u{17B4}'..='\u{17B5}',   // Khmer inherent vowels
    '\u{180B}'..='\u{180F}',   // Mongolian variation selectors and vowel separator (Cf)
    '\u{200B}'..='\u{200F}',   // zero-width space, joiners, LRM, RLM (Cf)
    '\u{202A}'..='\u{202E}',   // bidi embeddings and overrides (Cf)
    '\u{2060}'..='\u{206F}',   // word joiner, invisible operators, bidi isolates (Cf)
    '\u{2800}'..='\u{2800}',   // Braille pattern blank
    '\u{3164}'..='\u{3164}',   // Hangul filler
    '\u{FE00}'..='\u{FE0F}',   // variation selectors
    '\u{FEFF}'..='\u{FEFF}',   // zero-width no-break space, byte order mark (Cf)
    '\u{FFA0}'..='\u{FFA0}',   // halfwidth Hangul filler
    '\u{FFF0}'..='\u{FFFB}',   // unassigned specials, interlinear annotation (Cf)
    '\u{110BD}'..='\u{110BD}', // Kaithi number sign (Cf)
    '\u{110CD}'..='\u{110CD}', // Kaithi number sign above (Cf)
    '\u{13430}'..='\u{1343F}', // Egyptian hieroglyph format controls (Cf)
    '\u{1BCA0}'..='\u{1BCA3}', // shorthand format controls (Cf)
    '\u{1D173}'..='\u{1D17A}', // musical symbol format controls (Cf)
    '\u{E0000}'..='\u{E0FFF}', // tags (Cf) and variation selectors supplement
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_only_whitespace_format_and_zero_width_characters_is_not_visible() {
        for text in [
            "",
            "   ",
            "\u{200B}\u{00A0}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{202E}\u{2066}\u{2069}\u{200E}\u{200F}",
            "\t\n\r\u{0085}\u{2028}\u{2029}\u{3000}\u{202F}",
            "\u{0000}\u{0007}\u{007F}\u{009F}",
            "\u{00AD}\u{034F}\u{180E}\u{3164}\u{FFA0}\u{2800}",
            "\u{FE0F}\u{E0001}\u{E0041}\u{E007F}\u{E0100}",
        ] {
            assert!(!has_visible_text(text), "{text:?}");
            assert_eq!(stated(Some(text)), None, "{text:?}");
        }
        assert_eq!(stated(None), None);
    }

    #[test]
    fn one_visible_character_among_invisible_ones_is_visible_text() {
        for text in [
            "a",
            "\u{200B}x\u{200B}",
            "\u{00A0}1",
            "ö",
            "?",
            "前",
            "\u{FEFF}—",
        ] {
            assert!(has_visible_text(text), "{text:?}");
        }
        assert_eq!(
            stated(Some("  medvetslös efter fall \n")),
            Some("medvetslös efter fall")
        );
    }
}
