//! Entity vectors: structural ones from graph walks ([`skipgram`]), textual ones from a
//! sentence model, and their fusion.
//!
//! Text side: [`model_files`] finds (or fetches) the sentence model, [`entity_text`] renders
//! each catalogue entity as a sentence, and [`text::TextEncoder`] turns sentences into
//! unit-length 384-dimensional vectors.
//!
//! May import: `kg`, `graph`, `util`.

mod cpu_bert;
pub mod entity_text;
pub mod error;
pub mod model_files;
mod sgemm;
pub mod skipgram;
pub mod text;

pub use entity_text::{
    brand_texts, category_texts, entity_texts, has_words, product_texts, product_texts_repaired,
    CatalogueRepairs, LinkedBrand, ProductFacts, ProductSentences,
};
pub use error::EmbedError;
pub use model_files::{
    default_models_root, fetch_model, FetchOptions, FetchPolicy, ModelFiles, ModelSource,
};
pub use skipgram::{train_skipgram, NodeVectors, SkipGramConfig, SkipGramStats};
pub use text::{cosine, Backend, Embeddings, EncoderConfig, TextEncoder};
