//! The FHIR R4 adapter: searches a FHIR server per domain, follows paging, and maps resources to normalised items.
