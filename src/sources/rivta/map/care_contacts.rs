//! SCAFFOLD: to be written

use roxmltree::Node;

use super::Ctx;
use crate::domain::{Contact, Sourced};

pub fn map(_payload: Node<'_, '_>, _cx: &mut Ctx<'_>) -> Vec<Sourced<Contact>> {
    Vec::new()
}
