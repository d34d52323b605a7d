//! Entity vectors: structural ones from graph walks (skip-gram), textual ones from a sentence
//! model, and their fusion.
