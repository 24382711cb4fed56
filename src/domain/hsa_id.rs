//! `HsaId`: the national identifier of care units, care providers, staff and source systems.

use std::fmt;

/// An HSA-id: `SE` + organisation number + `-` + `[A-Za-z0-9]+`, at most 31 characters. The
/// organisation number has 10 digits, or 12 with the `16` prefix some producers write
/// (`SE162321000230-0011`, seen in the platform's own examples).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct HsaId(String);

/// Why a text is not an HSA-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an HSA-id is SE, a 10-digit (or 16-prefixed 12-digit) organisation number, a hyphen and letters or digits, at most 31 characters (e.g. SE2321000016-A291)"
)]
pub struct HsaIdError;

impl HsaId {
    pub fn parse(text: &str) -> Result<Self, HsaIdError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let digits = bytes.get(2..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        });
        let ok = text.len() <= 31
            && text.starts_with("SE")
            && (digits == 10 || (digits == 12 && bytes[2..4] == *b"16"))
            && bytes.get(2 + digits) == Some(&b'-')
            && bytes.len() > 3 + digits
            && bytes[3 + digits..].iter().all(u8::is_ascii_alphanumeric);
        if ok {
            Ok(HsaId(text.to_owned()))
        } else {
            Err(HsaIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HsaId({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for HsaId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HsaId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_shaped_ids_parse() {
        assert!(HsaId::parse("SE2321000016-A291").is_ok());
        // The 16-prefixed 12-digit organisation number, as in the platform's own examples.
        assert!(HsaId::parse("SE162321000255-O11111").is_ok());
        assert!(HsaId::parse("SE172321000255-O11111").is_err());
        assert!(HsaId::parse("SE23210000161-A291").is_err());
        assert!(HsaId::parse("SE5565594230-B8N").is_ok());
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "SE2321000016",
            "SE2321000016-",
            "se2321000016-A291",
            "SE232100001X-A291",
            "SE2321000016-A 291",
            "SE2321000016-ABCDEFGHIJKLMNOPQRSTU",
        ] {
            assert!(HsaId::parse(bad).is_err(), "{bad}");
        }
    }
}
