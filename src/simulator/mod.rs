//! The built-in FHIR R4 simulator: real HTTP servers on loopback serving care records from files, used by the demo and the tests.
