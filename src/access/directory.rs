//! Who is whose guardian, whose identity is protected, and what people are called: the
//! population register's part in the access rules. Pluggable: [`PopulationDirectory`] is the
//! seam where a deployment connects Skatteverket's register (Navet); [`FileDirectory`] reads a
//! TOML file (the demo's is `sources/registers/population.toml`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::domain::PersonId;

/// What the register says of one person.
#[derive(Clone, Debug, PartialEq)]
pub struct PersonEntry {
    pub person: PersonId,
    pub name: Option<String>,
    /// Skyddade personuppgifter: nothing of this person is shown to anyone acting for them.
    pub protected_identity: bool,
    pub guardians: Vec<PersonId>,
}

/// The register could not be read; access that depends on it is refused.
#[derive(Debug, thiserror::Error)]
#[error("the population register cannot be read: {0}")]
pub struct DirectoryError(pub String);

/// A source of guardianship and protected identity.
pub trait PopulationDirectory: Send + Sync {
    /// The register's entry for `person`, if it has one.
    fn person<'a>(
        &'a self,
        person: &'a PersonId,
    ) -> BoxFuture<'a, Result<Option<PersonEntry>, DirectoryError>>;

    /// Everyone whose guardian `guardian` is.
    fn children_of<'a>(
        &'a self,
        guardian: &'a PersonId,
    ) -> BoxFuture<'a, Result<Vec<PersonEntry>, DirectoryError>>;
}

/// A register read once from a TOML file at startup.
#[derive(Debug, Default)]
pub struct FileDirectory {
    people: HashMap<PersonId, PersonEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default)]
    person: Vec<PersonFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonFile {
    person_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    protected_identity: bool,
    #[serde(default)]
    guardians: Vec<String>,
}

/// Why the register file cannot be used. Names the file and the entry, never the number.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryFileError {
    #[error("cannot read the population register {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the population register {} is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl FileDirectory {
    /// An empty register: nobody is anybody's guardian.
    pub fn empty() -> Self {
        FileDirectory::default()
    }

    pub fn load(path: &Path) -> Result<Self, DirectoryFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| DirectoryFileError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: FileFormat = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut people = HashMap::new();
        for (index, entry) in file.person.into_iter().enumerate() {
            let at = |what: &str| format!("[[person]] number {}: {what}", index + 1);
            let person =
                PersonId::parse(&entry.person_id).map_err(|e| at(&format!("person_id: {e}")))?;
            let guardians = entry
                .guardians
                .iter()
                .map(|g| PersonId::parse(g).map_err(|e| at(&format!("guardians: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            if people.contains_key(&person) {
                return Err(at("the same person_id is listed twice"));
            }
            people.insert(
                person.clone(),
                PersonEntry {
                    person,
                    name: entry.name,
                    protected_identity: entry.protected_identity,
                    guardians,
                },
            );
        }
        Ok(FileDirectory { people })
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
}

impl PopulationDirectory for FileDirectory {
    fn person<'a>(
        &'a self,
        person: &'a PersonId,
    ) -> BoxFuture<'a, Result<Option<PersonEntry>, DirectoryError>> {
        Box::pin(async move { Ok(self.people.get(person).cloned()) })
    }

    fn children_of<'a>(
        &'a self,
        guardian: &'a PersonId,
    ) -> BoxFuture<'a, Result<Vec<PersonEntry>, DirectoryError>> {
        Box::pin(async move {
            let mut children: Vec<PersonEntry> = self
                .people
                .values()
                .filter(|p| p.guardians.contains(guardian))
                .cloned()
                .collect();
            children.sort_by_key(|c| c.person.digits());
            Ok(children)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = r#"
        [[person]]
        person_id = "198804122383"
        name = "Lena Tolvansson"

        [[person]]
        person_id = "20200615-2397"
        name = "Elias Tolvansson"
        guardians = ["198804122383"]

        [[person]]
        person_id = "201001012382"
        protected_identity = true
        guardians = ["198804122383"]
    "#;

    fn id(s: &str) -> PersonId {
        PersonId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_guardian_finds_each_child_with_its_protection() {
        let dir = FileDirectory::parse(FAMILY).unwrap();
        let children = dir.children_of(&id("198804122383")).await.unwrap();
        assert_eq!(children.len(), 2);
        assert_eq!(children[0].person, id("201001012382"));
        assert!(children[0].protected_identity);
        assert_eq!(children[1].name.as_deref(), Some("Elias Tolvansson"));
        assert!(!children[1].protected_identity);
        assert!(
            dir.children_of(&id("202006152397"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_bad_number_is_reported_with_its_entry_but_not_echoed() {
        let err = FileDirectory::parse(
            "[[person]]\nperson_id = \"198804122383\"\n[[person]]\nperson_id = \"198804122384\"\n",
        )
        .unwrap_err();
        assert!(err.contains("number 2"), "{err}");
        assert!(!err.contains("198804122384"), "{err}");
    }

    #[test]
    fn the_demo_register_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources/registers/population.toml");
        assert!(FileDirectory::load(&path).unwrap().len() >= 4);
    }
}
