//! Merge: de-duplicates the items several sources reported into one list per domain, keeping every provenance. Pure functions, no I/O.
