//! Recommender functions inside SPARQL, registered as extension functions of every query the
//! endpoint runs (and of `kgrec query` when a query calls them):
//!
//! - `kgr:score(?user, ?product)`: the served model's score of the product for the user
//!   (`xsd:float`), as `/v1/users/{id}/recommendations` ranks them;
//! - `kgr:similarity(?a, ?b)`: the cosine of two products' model vectors (`xsd:float`).
//!
//! An unknown user or product, or an argument that is not an IRI, leaves the value unbound
//! (a SPARQL expression error), so `FILTER` drops the row and `ORDER BY` puts it last.

use std::sync::Arc;

use oxigraph::model::{Literal, NamedNode, Term};

use super::live::LiveModel;
use crate::kg::vocab::kgr;
use crate::kg::ExtensionFunction;

/// The IRIs of the recommender functions: `kgr:score`, `kgr:similarity`.
#[must_use]
pub fn function_iris() -> [NamedNode; 2] {
    [kgr("score"), kgr("similarity")]
}

/// `kgr:score` and `kgr:similarity` over the model `live` serves at the moment of each call.
#[must_use]
pub fn recommender_functions(live: &Arc<LiveModel>) -> Vec<(NamedNode, ExtensionFunction)> {
    let l = Arc::clone(live);
    let score: ExtensionFunction = Arc::new(move |args: &[Term]| match args {
        [Term::NamedNode(user), Term::NamedNode(item)] => l
            .current()?
            .score_user_item(user.as_str(), item.as_str())
            .map(|s| Literal::from(s).into()),
        _ => None,
    });
    let l = Arc::clone(live);
    let similarity: ExtensionFunction = Arc::new(move |args: &[Term]| match args {
        [Term::NamedNode(a), Term::NamedNode(b)] => {
            let r = l.current()?;
            let (a, b) = (r.item_row(a.as_str())?, r.item_row(b.as_str())?);
            Some(Literal::from(r.item_similarity(a, b)).into())
        }
        _ => None,
    });
    let [score_iri, similarity_iri] = function_iris();
    vec![(score_iri, score), (similarity_iri, similarity)]
}
