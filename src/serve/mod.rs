//! The online side, below the HTTP layer: the served model with its catalogue
//! ([`catalogue`]) and every user's live history ([`recommender`]), explanations as KG paths ([`explain`]), catalogue filters ([`filter`]), a product's KG neighbourhood ([`neighbourhood`]), the SPARQL
//! extension functions `kgr:score` and `kgr:similarity` ([`functions`]), live events
//! and forgetting ([`events`]), and the served model over time: swaps to new versions and
//! the change log other replicas write ([`live`]), and A/B tests between versions
//! ([`experiment`]).
//!
//! May import: `kg`, `graph`, `embed`, `eval`, `model`, `features`, `registry`, `util`.

pub mod catalogue;
pub mod events;
pub mod experiment;
pub mod explain;
pub mod filter;
pub mod functions;
pub mod live;
pub mod neighbourhood;
pub mod recommender;
