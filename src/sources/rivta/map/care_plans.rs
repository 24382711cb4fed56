//! SCAFFOLD: to be written

use roxmltree::Node;

use super::Ctx;
use crate::domain::{CarePlan, Sourced};

pub fn map(_payload: Node<'_, '_>, _cx: &mut Ctx<'_>) -> Vec<Sourced<CarePlan>> {
    Vec::new()
}
