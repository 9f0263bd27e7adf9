//! Root filesystem setup (placeholder until written).
