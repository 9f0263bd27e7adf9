//! Spec-derived conformance suite.
