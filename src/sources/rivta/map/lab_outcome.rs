//! SCAFFOLD: to be written

use roxmltree::Node;

use super::Ctx;
use crate::domain::{LabResult, Sourced};

pub fn map_v4(_payload: Node<'_, '_>, _cx: &mut Ctx<'_>) -> Vec<Sourced<LabResult>> {
    Vec::new()
}

pub fn map_v3(_payload: Node<'_, '_>, _cx: &mut Ctx<'_>) -> Vec<Sourced<LabResult>> {
    Vec::new()
}
