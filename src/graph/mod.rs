//! The graph view of the KG: a compact typed projection of the store, and walks over it.
