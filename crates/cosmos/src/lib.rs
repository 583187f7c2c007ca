//! The package catalogue: Cosmos' package API over Universe repositories.
