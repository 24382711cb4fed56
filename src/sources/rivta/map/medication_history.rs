//! SCAFFOLD: to be written

use roxmltree::Node;

use super::Ctx;
use crate::domain::{Medication, Sourced};

pub fn map(_payload: Node<'_, '_>, _cx: &mut Ctx<'_>) -> Vec<Sourced<Medication>> {
    Vec::new()
}
